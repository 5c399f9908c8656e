//! The image store's conformance suite, on every store this machine has: a folder on local
//! disk, memory, and an S3-compatible server (moto, from `MOVIEDB_MOTO` or `.tools/`, which
//! `scripts/ensure-s3-server` installs; without one the S3 cases say they were skipped, unless
//! `MOVIEDB_REQUIRE_S3=1`, which `scripts/test` sets).

use chrono::{Duration, Utc};
use image::codecs::jpeg::JpegEncoder;
use image::{Rgb, RgbImage};
use moviedb_images::{process, ImageStore, Limits, PosterSize, Processed, S3Settings, StoreError};
use std::collections::HashSet;

fn poster(seed: u8) -> Processed {
    let image = RgbImage::from_fn(300, 450, |x, y| {
        Rgb([seed, (x % 256) as u8, (y % 256) as u8])
    });
    let mut body = Vec::new();
    JpegEncoder::new_with_quality(&mut body, 90)
        .encode_image(&image)
        .expect("encodes");
    process(&body, "image/jpeg", &Limits::default()).expect("a poster")
}

async fn conformance(store: ImageStore) {
    let kept = poster(1);
    let orphan = poster(2);
    assert!(!store.has_all(&kept.hash, "jpg").await.expect("answers"));
    store.put(&kept, "jpg").await.expect("stored");
    // The same poster again: the same keys, no error.
    store.put(&kept, "jpg").await.expect("stored again");
    assert!(store.has_all(&kept.hash, "jpg").await.expect("answers"));

    for (size, bytes) in &kept.sizes {
        let whole = store
            .get(*size, &kept.hash, "jpg", None)
            .await
            .expect("answers")
            .expect("stored");
        assert_eq!(whole.bytes, *bytes, "{size:?}");
        assert_eq!(whole.size, bytes.len() as u64);
        assert_eq!(whole.range, 0..bytes.len() as u64);
        assert_eq!(
            store.len(*size, &kept.hash, "jpg").await.expect("answers"),
            Some(bytes.len() as u64)
        );
    }
    let original = &kept.sizes[6].1;
    let part = store
        .get(PosterSize::Original, &kept.hash, "jpg", Some(10..30))
        .await
        .expect("answers")
        .expect("stored");
    assert_eq!(part.bytes, original.slice(10..30));
    assert_eq!(part.range, 10..30);
    assert_eq!(part.size, original.len() as u64);

    assert!(store
        .get(PosterSize::W92, &orphan.hash, "jpg", None)
        .await
        .expect("answers")
        .is_none());
    assert_eq!(
        store
            .len(PosterSize::W92, &kept.hash, "png")
            .await
            .expect("answers"),
        None
    );

    // An upload whose event never came (the process died in between): no movie refers to it.
    let before = Utc::now() - Duration::seconds(5);
    store.put(&orphan, "jpg").await.expect("stored");
    let referenced: HashSet<String> = [kept.hash.clone()].into();
    let young = store.sweep(&referenced, before).await.expect("swept");
    assert_eq!((young.deleted, young.waiting, young.kept), (0, 1, 1));
    assert!(store.has_all(&orphan.hash, "jpg").await.expect("answers"));

    let later = Utc::now() + Duration::seconds(5);
    let (a, b) = tokio::join!(
        store.sweep(&referenced, later),
        store.sweep(&referenced, later)
    );
    let (a, b) = (a.expect("swept"), b.expect("swept beside another sweep"));
    assert!(a.deleted + b.deleted >= 1, "{a:?} {b:?}");
    assert_eq!((a.kept, b.kept), (1, 1));
    for size in PosterSize::ALL {
        assert_eq!(
            store.len(size, &orphan.hash, "jpg").await.expect("answers"),
            None,
            "{size:?} of the orphan"
        );
    }
    assert!(store.has_all(&kept.hash, "jpg").await.expect("answers"));
    let again = store.sweep(&referenced, later).await.expect("swept");
    assert_eq!((again.deleted, again.waiting, again.kept), (0, 0, 1));
}

#[tokio::test]
async fn a_folder_on_local_disk_keeps_posters_by_their_hash() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = ImageStore::open(None, dir.path(), &S3Settings::default()).expect("opens");
    conformance(store).await;
    assert!(dir.path().join("images/original").is_dir());
    let named = ImageStore::open(
        Some(&format!("file://{}/named", dir.path().display())),
        dir.path(),
        &S3Settings::default(),
    )
    .expect("opens");
    conformance(named).await;
}

#[tokio::test]
async fn memory_keeps_posters_by_their_hash() {
    let dir = tempfile::tempdir().expect("temp dir");
    conformance(
        ImageStore::open(Some("memory:"), dir.path(), &S3Settings::default()).expect("opens"),
    )
    .await;
}

#[cfg(not(feature = "s3"))]
#[test]
fn an_s3_bucket_needs_the_s3_feature() {
    let dir = tempfile::tempdir().expect("temp dir");
    let refused = ImageStore::open(Some("s3://posters"), dir.path(), &S3Settings::default());
    assert!(matches!(refused, Err(StoreError::Config(e)) if e.contains("--features s3")));
    eprintln!("SKIPPED: the S3 cases (built without the s3 feature; scripts/test builds it)");
}

#[cfg(feature = "s3")]
mod s3 {
    use super::*;
    use moviedb_test_support::s3_server::S3Server;

    fn settings(endpoint: &str) -> S3Settings {
        S3Settings {
            endpoint: Some(endpoint.to_owned()),
            region: Some("us-east-1".into()),
            access_key_id: Some("moviedb-test".into()),
            secret_access_key: Some("moviedb-test-secret".into()),
            allow_http: true,
        }
    }

    #[tokio::test]
    async fn an_s3_compatible_bucket_keeps_posters_by_their_hash() {
        let Some(moto) = S3Server::start("posters").await else {
            return;
        };
        let dir = tempfile::tempdir().expect("temp dir");
        for url in ["s3://posters", "s3://posters/under/a/prefix"] {
            let store =
                ImageStore::open(Some(url), dir.path(), &settings(&moto.url)).expect("opens");
            conformance(store).await;
        }
    }

    #[tokio::test]
    async fn an_unreachable_bucket_is_unavailable_within_seconds() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let dir = tempfile::tempdir().expect("temp dir");
        let store = ImageStore::open(
            Some("s3://posters"),
            dir.path(),
            &settings(&format!("http://127.0.0.1:{port}")),
        )
        .expect("opens without asking the server");
        let failed = store.put(&poster(3), "jpg").await;
        assert!(
            matches!(failed, Err(StoreError::Unavailable(_))),
            "{failed:?}"
        );
        let read = store
            .get(PosterSize::W92, &poster(3).hash, "jpg", None)
            .await;
        assert!(matches!(read, Err(StoreError::Unavailable(_))), "{read:?}");
    }
}
