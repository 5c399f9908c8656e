//! Poster uploads refused: bad images with their reason, anyone but an admin, a missing movie
//! or a stale `If-Match`, an object store that does not answer; none changes anything.

use crate::on_both_backends;
use crate::posters::{get, jpeg, movie_version, put_poster, stored_files};
use crate::support::*;
use reqwest::Method;

on_both_backends!(
    bad_images_are_refused_with_their_reason_and_change_nothing,
    only_an_admin_sets_a_poster_and_only_on_a_movie_at_the_version_named,
);

async fn bad_images_are_refused_with_their_reason_and_change_nothing(app: TestApp) {
    let admin = app.admin_token().await;
    let (id, _) = seed(&app, &admin, &[oz()]).await.remove(0);
    let good = jpeg(300, 450, 10);
    let mut bomb = jpeg(64, 64, 10);
    let sof = bomb
        .windows(2)
        .position(|w| w == [0xFF, 0xC0])
        .expect("a frame header");
    bomb[sof + 5..sof + 9].copy_from_slice(&[0xC3, 0x50, 0xC3, 0x50]);
    let cases: Vec<(&str, &str, Vec<u8>, u16, &str)> = vec![
        ("gif", "image/gif", b"GIF89a".to_vec(), 415, "image/gif"),
        ("none", "", good.clone(), 415, "image/jpeg"),
        ("svg", "image/svg+xml", b"<svg/>".to_vec(), 415, "image/png"),
        ("empty", "image/jpeg", Vec::new(), 422, "empty"),
        (
            "mismatch",
            "image/png",
            good.clone(),
            422,
            "not of type image/png",
        ),
        (
            "truncated",
            "image/jpeg",
            good[..good.len() / 2].to_vec(),
            422,
            "cut off",
        ),
        ("bomb", "image/jpeg", bomb, 422, "50000 x 50000"),
        (
            "too large",
            "image/jpeg",
            vec![0xFF; 10 * 1024 * 1024 + 1],
            413,
            "larger than",
        ),
    ];
    for (name, content_type, bytes, status, says) in cases {
        let refused = put_poster(&app, Some(&admin), &id, content_type, bytes).await;
        let problem = problem(refused, status).await;
        let detail = problem["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(says), "{name}: {detail}");
    }
    assert_eq!(movie_version(&app, &id).await, 1);
    assert_eq!(stored_files(&app), 0, "nothing stored");
}

async fn only_an_admin_sets_a_poster_and_only_on_a_movie_at_the_version_named(app: TestApp) {
    let admin = app.admin_token().await;
    let (id, _) = seed(&app, &admin, &[oz()]).await.remove(0);
    let (_, user) = app.user().await;
    let image = jpeg(200, 300, 90);
    problem(
        put_poster(&app, Some(&user), &id, "image/jpeg", image.clone()).await,
        403,
    )
    .await;
    problem(
        put_poster(&app, None, &id, "image/jpeg", image.clone()).await,
        401,
    )
    .await;
    let unknown = uuid::Uuid::now_v7().to_string();
    problem(
        put_poster(&app, Some(&admin), &unknown, "image/jpeg", image.clone()).await,
        404,
    )
    .await;
    let stale = app
        .request(
            Method::PUT,
            &format!("/v1/movies/{id}/poster"),
            Some(&admin),
        )
        .header("content-type", "image/jpeg")
        .header("if-match", "\"7\"")
        .body(image.clone())
        .send()
        .await
        .expect("sent");
    problem(stale, 412).await;
    let removed = app
        .request(
            Method::DELETE,
            &format!("/v1/movies/{id}/poster"),
            Some(&user),
        )
        .send()
        .await
        .expect("sent");
    problem(removed, 403).await;
    assert_eq!(stored_files(&app), 0, "nothing stored");
    assert_eq!(movie_version(&app, &id).await, 1);
}

/// An S3 bucket nobody answers for: an upload is a 503 with `Retry-After` and changes
/// nothing, and an image read is a 503 too.
#[cfg(feature = "s3")]
#[tokio::test]
async fn an_unreachable_image_store_is_503_and_nothing_changes() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let app = TestApp::sqlite_with_images(moviedb_service_kit::config::ImagesConfig {
        store_url: Some("s3://posters".into()),
        s3: moviedb_images::S3Settings {
            endpoint: Some(format!("http://127.0.0.1:{port}")),
            region: Some("us-east-1".into()),
            access_key_id: Some("moviedb".into()),
            secret_access_key: Some("moviedb-secret".into()),
            allow_http: true,
        },
        ..Default::default()
    })
    .await;
    let admin = app.admin_token().await;
    let (id, _) = seed(&app, &admin, &[oz()]).await.remove(0);
    let refused = put_poster(&app, Some(&admin), &id, "image/jpeg", jpeg(200, 300, 3)).await;
    assert_eq!(header(&refused, "retry-after"), "5");
    problem(refused, 503).await;
    assert_eq!(movie_version(&app, &id).await, 1);
    let read = get(&app, &format!("/images/w92/{}.jpg", "a".repeat(32)), &[]).await;
    problem(read, 503).await;
}
