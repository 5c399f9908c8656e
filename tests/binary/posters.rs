//! Posters through kills: the real process is killed with SIGKILL while uploads are in flight
//! (so some die between storing a poster's images and appending its event), three times.
//! After a restart every poster a movie shows has all its images, and the sweep (with no grace
//! here) deletes exactly the images no movie shows.

use super::*;
use std::collections::BTreeSet;

fn jpeg(seed: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(400, 600, |x, y| {
        image::Rgb([(x + seed) as u8, (y * 3 + seed) as u8, (seed * 7) as u8])
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85)
        .encode_image(&image)
        .expect("encodes");
    out
}

/// The hashes of the posters stored under `images`, with how many sizes each has.
fn stored(images: &std::path::Path) -> std::collections::BTreeMap<String, usize> {
    let mut found = std::collections::BTreeMap::new();
    for size in std::fs::read_dir(images).into_iter().flatten().flatten() {
        for file in std::fs::read_dir(size.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = file.file_name().to_string_lossy().into_owned();
            if let Some(hash) = name.strip_suffix(".jpg") {
                *found.entry(hash.to_owned()).or_insert(0) += 1;
            }
        }
    }
    found
}

async fn login(client: &reqwest::Client, base: &str) -> String {
    let login = client
        .post(format!("{base}/v1/sessions"))
        .json(&json!({ "email": "boot@example.com", "password": ADMIN_PASSWORD }))
        .send()
        .await
        .expect("sent");
    login.json::<Value>().await.expect("json")["token"]
        .as_str()
        .expect("token")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn posters_uploaded_through_kills_are_whole_and_the_sweep_takes_only_the_unshown() {
    let dir = tempfile::tempdir().expect("temp dir");
    let client = reqwest::Client::new();
    let running = start(dir.path());
    let token = login(&client, &running.base).await;
    let mut ids = Vec::new();
    for n in 0..4 {
        let added = client
            .post(format!("{}/v1/movies", running.base))
            .bearer_auth(&token)
            .json(
                &json!({ "name": format!("Killed {n}"), "director": "D", "genre": ["Drama"],
                           "imdb_score": 7.0, "99popularity": 50 }),
            )
            .send()
            .await
            .expect("sent");
        assert_eq!(added.status(), 201);
        ids.push(
            added.json::<Value>().await.expect("json")["id"]
                .as_str()
                .expect("id")
                .to_owned(),
        );
    }
    let mut running = Some(running);
    let mut seed = 0u32;
    for round in 0..3u64 {
        let current = running.take().unwrap_or_else(|| start(dir.path()));
        let token = login(&client, &current.base).await;
        let uploads: Vec<_> = (0..2)
            .map(|lane| {
                let (client, base, token, ids) = (
                    client.clone(),
                    current.base.clone(),
                    token.clone(),
                    ids.clone(),
                );
                let first = seed + lane * 1000;
                tokio::spawn(async move {
                    for n in 0..1000u32 {
                        let id = &ids[((first + n) % ids.len() as u32) as usize];
                        let sent = client
                            .put(format!("{base}/v1/movies/{id}/poster"))
                            .bearer_auth(&token)
                            .header("content-type", "image/jpeg")
                            .body(jpeg(first + n))
                            .send()
                            .await;
                        if sent.is_err() {
                            return;
                        }
                    }
                })
            })
            .collect();
        seed += 10_000;
        tokio::time::sleep(Duration::from_millis(1500 + 500 * round)).await;
        let mut process = current.process;
        process.child.kill().expect("SIGKILL");
        process.child.wait().expect("reaped");
        for upload in uploads {
            let _ = upload.await;
        }
    }

    // After the last kill: the sweep runs every second, with no grace.
    let mut command = moviedb(dir.path());
    command
        .env("MOVIEDB_IMAGES_SWEEP_GRACE_SECS", "0")
        .env("MOVIEDB_IMAGES_SWEEP_EVERY_SECS", "1");
    let process = Process::spawn(command);
    let base = process.address();
    let before = stored(&dir.path().join("images"));
    let mut shown = BTreeSet::new();
    for id in &ids {
        let movie: Value = client
            .get(format!("{base}/v1/movies/{id}"))
            .send()
            .await
            .expect("sent")
            .json()
            .await
            .expect("json");
        if let Some(path) = movie["poster_path"].as_str() {
            let hash = path
                .trim_start_matches('/')
                .trim_end_matches(".jpg")
                .to_owned();
            assert_eq!(
                before.get(&hash),
                Some(&7),
                "{id} shows {path}: every size is there"
            );
            shown.insert(hash);
        }
    }
    assert!(!shown.is_empty(), "some upload finished before the kills");
    let unshown = before.keys().filter(|h| !shown.contains(*h)).count();
    eprintln!(
        "{} posters stored, {} shown, {unshown} not shown (replaced, or cut off by a kill)",
        before.len(),
        shown.len()
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let now = stored(&dir.path().join("images"));
        if now.keys().cloned().collect::<BTreeSet<_>>() == shown {
            assert!(now.values().all(|sizes| *sizes == 7));
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the sweep left {now:?}, the movies show {shown:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(process);
}
