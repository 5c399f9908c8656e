//! The load a crash run puts on the process: writers that never stop.

use super::*;

/// A tiny deterministic generator, so a failing run can be repeated.
pub(crate) struct Lcg(pub(crate) u64);

impl Lcg {
    pub(crate) fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below.max(1)
    }
}

pub(crate) async fn login(client: &reqwest::Client, base: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = client
            .post(format!("{base}/v1/sessions"))
            .json(&json!({ "email": "boot@example.com", "password": ADMIN_PASSWORD }))
            .send()
            .await;
        if let Ok(answer) = answer {
            if answer.status() == 201 {
                let body: Value = answer.json().await.expect("json");
                return body["token"].as_str().expect("token").to_owned();
            }
        }
        assert!(Instant::now() < deadline, "no login after a restart");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Writes until the task is dropped: bulk adds of 200 movies, and edits and deletes of movies
/// added earlier. Returns nothing; the event store is the record.
pub(crate) async fn write_forever(client: reqwest::Client, base: String, token: String, seed: u64) {
    let mut rng = Lcg(seed);
    let mut ids: Vec<String> = Vec::new();
    for round in 0u64.. {
        let bulk: Vec<Value> = (0..200)
            .map(|i| {
                json!({ "name": format!("Crash {seed}-{round}-{i}"), "director": format!("D{}", i % 7),
                    "genre": ["Drama", "War"], "imdb_score": (i % 100) as f64 / 10.0, "99popularity": i % 100 })
            })
            .collect();
        let Ok(answer) = client
            .post(format!("{base}/v1/movies"))
            .bearer_auth(&token)
            .json(&bulk)
            .send()
            .await
        else {
            return;
        };
        if let Ok(body) = answer.json::<Value>().await {
            for result in body["results"].as_array().into_iter().flatten() {
                if let Some(id) = result["id"].as_str() {
                    ids.push(id.to_owned());
                }
            }
        }
        for _ in 0..20 {
            if ids.is_empty() {
                break;
            }
            let id = ids[rng.next(ids.len() as u64) as usize].clone();
            let request = if rng.next(5) == 0 {
                client.delete(format!("{base}/v1/movies/{id}"))
            } else {
                client
                    .patch(format!("{base}/v1/movies/{id}"))
                    .json(&json!({ "imdb_score": rng.next(100) as f64 / 10.0, "genre": ["Crime"] }))
            };
            if request.bearer_auth(&token).send().await.is_err() {
                return;
            }
        }
    }
}
