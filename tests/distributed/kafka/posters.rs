//! Posters in the distributed mode: the images in an S3-compatible bucket (moto), the event
//! through the outbox and Kafka, the poster path read from another query API, and every query
//! API serving the images from the bucket.

use super::*;
use moviedb_test_support::s3_server::S3Server;

fn jpeg() -> Vec<u8> {
    let image = image::RgbImage::from_fn(300, 450, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 120])
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .encode_image(&image)
        .expect("encodes");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_poster_goes_to_the_bucket_and_through_kafka_to_every_query_api() {
    let Some(tansu) = tansu() else { return };
    let Some(s3) = S3Server::start("posters").await else {
        return;
    };
    let stack = Stack::start_with(tansu, 1, 1, 2, s3.role_env("posters"));
    let admin = stack.token(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let added = stack
        .send(
            reqwest::Method::POST,
            format!("{}/v1/movies", stack.command(0)),
            Some(&admin),
            Some(
                json!({ "name": "Metropolis", "director": "Fritz Lang", "genre": ["Sci-Fi"],
                         "imdb_score": 8.3, "99popularity": 80 }),
            ),
            None,
        )
        .await;
    assert_eq!(added.status(), 201);
    let id = added.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let set = stack
        .client
        .put(format!("{}/v1/movies/{id}/poster", stack.command(0)))
        .bearer_auth(&admin)
        .header("content-type", "image/jpeg")
        .body(jpeg())
        .send()
        .await
        .expect("sent");
    assert_eq!(set.status(), 200);
    let token = consistency(&set);
    let path = set.json::<Value>().await.expect("json")["poster_path"]
        .as_str()
        .expect("a poster path")
        .to_owned();
    for n in 0..2 {
        let (status, movie) = stack
            .read(n, &format!("/v1/movies/{id}"), None, &token)
            .await;
        assert_eq!(status, 200);
        assert_eq!(movie["poster_path"], path.as_str(), "query API {n}");
        let image = stack
            .client
            .get(format!("{}/images/w185{path}", stack.query(n)))
            .send()
            .await
            .expect("sent");
        assert_eq!(image.status(), 200, "query API {n}");
        let bytes = image.bytes().await.expect("bytes");
        assert_eq!(
            image::load_from_memory(&bytes).expect("a JPEG").width(),
            185
        );
    }
    let (status, history) = stack
        .read(1, &format!("/v1/movies/{id}/history"), Some(&admin), &token)
        .await;
    assert_eq!(status, 200);
    let kinds: Vec<&str> = history["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["event_type"].as_str())
        .collect();
    assert_eq!(kinds, ["MovieAdded", "MoviePosterSet"]);
}
