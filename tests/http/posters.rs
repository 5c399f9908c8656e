//! Posters over HTTP: an admin uploads one, every size is served for good, the version check
//! decides between two uploads, and images no movie shows are swept. What is refused is in
//! `poster_refusals.rs`.

use crate::on_both_backends;
use crate::support::*;
use image::codecs::jpeg::JpegEncoder;
use image::{Rgb, RgbImage};
use reqwest::Method;
use serde_json::Value;

on_both_backends!(
    an_admin_sets_a_poster_and_every_size_is_served_for_good,
    of_two_uploads_with_one_if_match_one_wins_and_the_loser_is_swept,
    a_removed_poster_shows_none_and_its_images_go_with_the_sweep,
);

pub(crate) fn jpeg(width: u32, height: u32, shade: u8) -> Vec<u8> {
    let image = RgbImage::from_fn(width, height, |x, y| {
        Rgb([shade, (x % 256) as u8, (y % 256) as u8])
    });
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 90)
        .encode_image(&image)
        .expect("encodes");
    out
}

pub(crate) async fn put_poster(
    app: &TestApp,
    token: Option<&str>,
    id: &str,
    content_type: &str,
    bytes: Vec<u8>,
) -> reqwest::Response {
    app.request(Method::PUT, &format!("/v1/movies/{id}/poster"), token)
        .header("content-type", content_type)
        .body(bytes)
        .send()
        .await
        .expect("sent")
}

pub(crate) async fn get(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    headers
        .iter()
        .fold(app.request(Method::GET, path, None), |r, (k, v)| {
            r.header(*k, *v)
        })
        .send()
        .await
        .expect("sent")
}

/// Files under the service's image store.
pub(crate) fn stored_files(app: &TestApp) -> usize {
    fn count(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir).map_or(0, |entries| {
            entries
                .flatten()
                .map(|e| {
                    let path = e.path();
                    if path.is_dir() {
                        count(&path)
                    } else {
                        1
                    }
                })
                .sum()
        })
    }
    count(&app.images_dir)
}

pub(crate) async fn movie_version(app: &TestApp, id: &str) -> u64 {
    let events = app.events().await;
    events
        .iter()
        .filter(|e| e.stream_id.to_string() == id)
        .map(|e| e.version)
        .max()
        .unwrap_or(0)
}

async fn an_admin_sets_a_poster_and_every_size_is_served_for_good(app: TestApp) {
    let admin = app.admin_token().await;
    let (id, _) = seed(&app, &admin, &[oz()]).await.remove(0);
    let upload = jpeg(1000, 1500, 40);
    let set = put_poster(&app, Some(&admin), &id, "image/jpeg", upload.clone()).await;
    assert_eq!(set.status(), 200);
    assert_eq!(header(&set, "etag"), "\"2\"");
    let token = header(&set, "consistency-token");
    let movie = body(set).await;
    let path = movie["poster_path"]
        .as_str()
        .expect("a poster path")
        .to_owned();
    let hash = path
        .trim_start_matches('/')
        .trim_end_matches(".jpg")
        .to_owned();
    assert_eq!(hash, moviedb_images::content_hash(&upload));
    assert_eq!(path, format!("/{hash}.jpg"));
    assert_eq!(movie["name"], "The Wizard of Oz");

    let read = body(
        get(
            &app,
            &format!("/v1/movies/{id}"),
            &[("consistency-token", &token)],
        )
        .await,
    )
    .await;
    assert_eq!(read["poster_path"], path.as_str());
    let listed = body(get(&app, "/v1/movies", &[("consistency-token", &token)]).await).await;
    assert_eq!(listed["items"][0]["poster_path"], path.as_str());

    let config = get(&app, "/v1/configuration", &[]).await;
    assert_eq!(config.status(), 200);
    let config = body(config).await;
    assert_eq!(config["images"]["base_url"], "/images/");
    let sizes: Vec<&str> = config["images"]["poster_sizes"]
        .as_array()
        .expect("sizes")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        sizes,
        ["w92", "w154", "w185", "w342", "w500", "w780", "original"]
    );

    for size in &sizes {
        let url = format!("/images/{size}{path}");
        let image = get(&app, &url, &[]).await;
        assert_eq!(image.status(), 200, "{url}");
        assert_eq!(header(&image, "content-type"), "image/jpeg");
        assert_eq!(
            header(&image, "cache-control"),
            "public, max-age=31536000, immutable"
        );
        let etag = header(&image, "etag");
        assert!(etag.starts_with('"') && !etag.starts_with("W/"), "{etag}");
        let bytes = image.bytes().await.expect("bytes");
        let decoded = image::load_from_memory(&bytes).expect("a JPEG");
        let width = size.trim_start_matches('w').parse().unwrap_or(1000);
        assert_eq!(decoded.width(), width, "{url}");

        let again = get(&app, &url, &[("if-none-match", &etag)]).await;
        assert_eq!(again.status(), 304, "{url}");
        assert!(again.bytes().await.expect("body").is_empty());

        let head = app
            .request(Method::HEAD, &url, None)
            .send()
            .await
            .expect("sent");
        assert_eq!(head.status(), 200);
        assert_eq!(header(&head, "content-length"), bytes.len().to_string());
        assert_eq!(header(&head, "etag"), etag);

        let part = get(&app, &url, &[("range", "bytes=0-99")]).await;
        assert_eq!(part.status(), 206, "{url}");
        assert_eq!(
            header(&part, "content-range"),
            format!("bytes 0-99/{}", bytes.len())
        );
        assert_eq!(part.bytes().await.expect("part"), bytes.slice(0..100));
        let tail = get(&app, &url, &[("range", "bytes=-10")]).await;
        assert_eq!(tail.status(), 206);
        assert_eq!(
            tail.bytes().await.expect("tail"),
            bytes.slice(bytes.len() - 10..)
        );
        let past = get(&app, &url, &[("range", &format!("bytes={}-", bytes.len()))]).await;
        assert_eq!(
            header(&past, "content-range"),
            format!("bytes */{}", bytes.len())
        );
        problem(past, 416).await;
    }
    for missing in [
        format!("/images/w100{path}"),
        format!("/images/w92/{}.jpg", "0".repeat(32)),
        format!("/images/w92/{hash}.png"),
        "/images/w92/..%2F..%2Fetc%2Fpasswd".to_owned(),
        "/images/original/not-a-hash.jpg".to_owned(),
    ] {
        problem(get(&app, &missing, &[]).await, 404).await;
    }

    // The same image again: nothing changes, no event.
    let same = put_poster(&app, Some(&admin), &id, "image/jpeg", upload).await;
    assert_eq!(same.status(), 200);
    assert_eq!(header(&same, "etag"), "\"2\"");
    assert_eq!(movie_version(&app, &id).await, 2);
    let history = app
        .request(
            Method::GET,
            &format!("/v1/movies/{id}/history"),
            Some(&admin),
        )
        .header("consistency-token", &token)
        .send()
        .await
        .expect("sent");
    let history = body(history).await;
    let kinds: Vec<&str> = history["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["event_type"].as_str())
        .collect();
    assert_eq!(kinds, ["MovieAdded", "MoviePosterSet"]);
}

async fn of_two_uploads_with_one_if_match_one_wins_and_the_loser_is_swept(app: TestApp) {
    let admin = app.admin_token().await;
    let (id, _) = seed(&app, &admin, &[oz()]).await.remove(0);
    let upload = |shade: u8| {
        app.request(
            Method::PUT,
            &format!("/v1/movies/{id}/poster"),
            Some(&admin),
        )
        .header("content-type", "image/jpeg")
        .header("if-match", "\"1\"")
        .body(jpeg(400, 600, shade))
        .send()
    };
    let (a, b) = tokio::join!(upload(1), upload(2));
    let (a, b) = (a.expect("sent"), b.expect("sent"));
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 412]);
    let winner = if a.status() == 200 { a } else { b };
    let token = header(&winner, "consistency-token");
    let path = body(winner).await["poster_path"]
        .as_str()
        .expect("a path")
        .to_owned();
    assert_eq!(movie_version(&app, &id).await, 2);
    let read = body(
        get(
            &app,
            &format!("/v1/movies/{id}"),
            &[("consistency-token", &token)],
        )
        .await,
    )
    .await;
    assert_eq!(read["poster_path"], path.as_str());

    // The loser's images may have been stored before its version check failed; the sweep
    // (with no grace here) leaves the winner's alone and deletes the rest.
    let images = moviedb_images::ImageStore::local(&app.images_dir).expect("the store");
    let swept =
        moviedb_projector::sweep::sweep(app.read.as_ref(), &images, std::time::Duration::ZERO)
            .await
            .expect("swept");
    assert_eq!(swept.kept, 1);
    assert_eq!(
        stored_files(&app),
        7,
        "only the winner's seven sizes are left"
    );
    assert_eq!(
        get(&app, &format!("/images/w92{path}"), &[]).await.status(),
        200
    );
}

async fn a_removed_poster_shows_none_and_its_images_go_with_the_sweep(app: TestApp) {
    let admin = app.admin_token().await;
    let (id, _) = seed(&app, &admin, &[oz()]).await.remove(0);
    let set = put_poster(&app, Some(&admin), &id, "image/jpeg", jpeg(200, 300, 7)).await;
    let path = body(set).await["poster_path"]
        .as_str()
        .expect("a path")
        .to_owned();
    let removed = app
        .request(
            Method::DELETE,
            &format!("/v1/movies/{id}/poster"),
            Some(&admin),
        )
        .send()
        .await
        .expect("sent");
    assert_eq!(removed.status(), 200);
    let token = header(&removed, "consistency-token");
    assert_eq!(body(removed).await["poster_path"], Value::Null);
    let read = body(
        get(
            &app,
            &format!("/v1/movies/{id}"),
            &[("consistency-token", &token)],
        )
        .await,
    )
    .await;
    assert_eq!(read["poster_path"], Value::Null);
    // Within the grace period the images stay (a CDN may still fetch them).
    let images = moviedb_images::ImageStore::local(&app.images_dir).expect("the store");
    let day = std::time::Duration::from_secs(86_400);
    let kept = moviedb_projector::sweep::sweep(app.read.as_ref(), &images, day)
        .await
        .expect("swept");
    assert_eq!((kept.deleted, kept.waiting), (0, 1));
    assert_eq!(
        get(&app, &format!("/images/w92{path}"), &[]).await.status(),
        200
    );
    let gone =
        moviedb_projector::sweep::sweep(app.read.as_ref(), &images, std::time::Duration::ZERO)
            .await
            .expect("swept");
    assert_eq!(gone.deleted, 1);
    assert_eq!(stored_files(&app), 0);
    // A size not served before is gone at once; one served is kept in memory a minute at
    // most (`crates/images/src/cache.rs`).
    problem(get(&app, &format!("/images/w154{path}"), &[]).await, 404).await;
}

/// With `MOVIEDB_IMAGES_BASE_URL` (a CDN), the configuration sends clients there; its HTTPS
/// address is the secure one.
#[tokio::test]
async fn the_configuration_points_at_the_cdn_when_one_is_set() {
    let dir = tempfile::tempdir().expect("temp dir");
    let app = TestApp::sqlite_with_images(moviedb_service_kit::config::ImagesConfig {
        store_url: Some(dir.path().display().to_string()),
        base_url: Some("http://img.example.com/images/".into()),
        ..Default::default()
    })
    .await;
    let config = get(&app, "/v1/configuration", &[]).await;
    assert_eq!(header(&config, "cache-control"), "public, max-age=3600");
    let config = body(config).await;
    assert_eq!(
        config["images"]["base_url"],
        "http://img.example.com/images/"
    );
    assert_eq!(
        config["images"]["secure_base_url"],
        "https://img.example.com/images/"
    );
}
