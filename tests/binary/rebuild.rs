//! `moviedb rebuild` while serving, and a kill during grouped appends.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moviedb_rebuild_swaps_in_equal_read_models_while_the_service_answers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let client = reqwest::Client::new();
    let running = start(dir.path());
    let base = running.base.clone();
    let login = client
        .post(format!("{base}/v1/sessions"))
        .json(&json!({ "email": "boot@example.com", "password": ADMIN_PASSWORD }))
        .send()
        .await
        .expect("sent");
    let token = login.json::<Value>().await.expect("json")["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let mut consistency = Vec::new();
    for n in 0..30 {
        let added = client
            .post(format!("{base}/v1/movies"))
            .bearer_auth(&token)
            .json(&json!({ "name": format!("Film {n}"), "director": "Someone", "genre": ["Drama", "War"], "imdb_score": 7.5, "99popularity": n }))
            .send()
            .await
            .expect("sent");
        assert_eq!(added.status(), 201);
        consistency.push(
            added.headers()["consistency-token"]
                .to_str()
                .expect("ascii")
                .to_owned(),
        );
    }
    let caught_up = client
        .get(format!("{base}/v1/movies"))
        .header("consistency-token", consistency.join(","))
        .send()
        .await
        .expect("sent");
    assert_eq!(caught_up.status(), 200);
    // The index is written after the read models: a search with the tokens waits for it.
    let indexed = client
        .get(format!("{base}/v1/movies/search?q=film"))
        .header("consistency-token", consistency.join(","))
        .send()
        .await
        .expect("sent");
    assert_eq!(indexed.status(), 200);
    let read_url = format!("sqlite://{}", dir.path().join("read-models.db").display());
    let read = moviedb_read_model::SqlReadModels::connect(&read_url)
        .await
        .expect("read models");
    use moviedb_read_model::ReadModelWriter;
    let before = read.dump().await.expect("dump");

    // Readers keep reading during the rebuild; every answer must be a full, correct list.
    let stop_reading = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (client, base, stop) = (client.clone(), base.clone(), stop_reading.clone());
        tokio::spawn(async move {
            let mut reads = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let page: Value = client
                    .get(format!("{base}/v1/movies?genre=War&per_page=100"))
                    .send()
                    .await
                    .expect("sent")
                    .json()
                    .await
                    .expect("a JSON list, never an error");
                assert_eq!(page["total"], 30, "a reader saw a partial list: {page}");
                // The search index is rebuilt into a new generation and swapped in too.
                let found: Value = client
                    .get(format!(
                        "{base}/v1/movies/search?q=film&genre=War&per_page=100"
                    ))
                    .send()
                    .await
                    .expect("sent")
                    .json()
                    .await
                    .expect("a JSON page of hits, never an error");
                assert_eq!(
                    found["total"], 30,
                    "a searcher saw a partial index: {found}"
                );
                reads += 1;
            }
            reads
        })
    };
    let rebuilt = moviedb(dir.path())
        .arg("rebuild")
        .output()
        .expect("moviedb rebuild runs");
    stop_reading.store(true, std::sync::atomic::Ordering::Relaxed);
    let reads = reader.await.expect("reader");
    assert!(
        rebuilt.status.success(),
        "{}",
        String::from_utf8_lossy(&rebuilt.stderr)
    );
    let said = String::from_utf8_lossy(&rebuilt.stdout);
    assert!(said.contains("from 31 events"), "{said}");
    assert!(reads > 0, "the service answered during the rebuild");
    assert_eq!(read.dump().await.expect("dump"), before);
    // After the swap the serving process searches, and writes, the new generation.
    let added = client
        .post(format!("{base}/v1/movies"))
        .bearer_auth(&token)
        .json(&json!({ "name": "Film after", "director": "Someone", "genre": ["War"], "imdb_score": 7.0, "99popularity": 1 }))
        .send()
        .await
        .expect("sent");
    assert_eq!(added.status(), 201);
    let after: Value = client
        .get(format!("{base}/v1/movies/search?q=film&per_page=100"))
        .header(
            "consistency-token",
            added.headers()["consistency-token"]
                .to_str()
                .expect("ascii"),
        )
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert_eq!(after["total"], 31, "{after}");
    let generations = std::fs::read_dir(dir.path().join("search"))
        .expect("the search directory")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("gen-"))
        .count();
    assert_eq!(generations, 1, "the old generation was removed");
    stop(running);
}

/// Group commit never acknowledges what is not durable: 32 clients add movies at once (so the
/// writer commits them in groups), the process is killed with SIGKILL in the middle, and every
/// movie that was answered 201 is in the event store afterwards, whole. On SQLite and MySQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_kill_during_grouped_appends_loses_no_acknowledged_movie_on_sqlite() {
    kill_during_grouped_appends(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_kill_during_grouped_appends_loses_no_acknowledged_movie_on_mysql() {
    let db = MySqlTestDatabase::new();
    kill_during_grouped_appends(Some(db.url())).await;
}

async fn kill_during_grouped_appends(database_url: Option<&str>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut command = moviedb(dir.path());
    command
        .env("MOVIEDB_ADMIN_EMAIL", "boot@example.com")
        .env("MOVIEDB_ADMIN_PASSWORD", ADMIN_PASSWORD);
    if let Some(url) = database_url {
        command.env("MOVIEDB_DATABASE_URL", url);
    }
    let mut process = Process::spawn(command);
    let base = process.address();
    let client = reqwest::Client::new();
    let token = client
        .post(format!("{base}/v1/sessions"))
        .json(&json!({ "email": "boot@example.com", "password": ADMIN_PASSWORD }))
        .send()
        .await
        .expect("sent")
        .json::<Value>()
        .await
        .expect("json")["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let acknowledged = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let writers: Vec<_> = (0..32)
        .map(|w| {
            let (client, base, token, acknowledged) = (
                client.clone(),
                base.clone(),
                token.clone(),
                acknowledged.clone(),
            );
            tokio::spawn(async move {
                for n in 0.. {
                    let Ok(answer) = client
                        .post(format!("{base}/v1/movies"))
                        .bearer_auth(&token)
                        .json(
                            &json!({ "name": format!("Crash {w}-{n}"), "director": "Someone",
                            "genre": ["Drama"], "imdb_score": 5.0, "99popularity": 50.0 }),
                        )
                        .send()
                        .await
                    else {
                        return; // the server is gone
                    };
                    if answer.status() != 201 {
                        continue;
                    }
                    if let Ok(body) = answer.json::<Value>().await {
                        if let Some(id) = body["id"].as_str() {
                            acknowledged.lock().expect("lock").push(id.to_owned());
                        }
                    }
                }
            })
        })
        .collect();
    // Let the writers get going, then kill the server in the middle of their appends.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while acknowledged.lock().expect("lock").len() < 300 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    process.child.kill().expect("SIGKILL");
    process.child.wait().expect("reaped");
    for writer in writers {
        let _ = writer.await;
    }
    let acknowledged = acknowledged.lock().expect("lock").clone();
    assert!(
        acknowledged.len() >= 300,
        "the writers got going: {}",
        acknowledged.len()
    );

    let store: Arc<dyn EventStore> = match database_url {
        Some(url) => Arc::new(
            MySqlEventStore::connect(url)
                .await
                .expect("the event store opens after a kill"),
        ),
        None => Arc::new(
            SqliteEventStore::connect(&format!(
                "sqlite://{}",
                dir.path().join("moviedb.db").display()
            ))
            .await
            .expect("the event store opens after a kill"),
        ),
    };
    for id in &acknowledged {
        let stream = store
            .read_stream(id.parse().expect("uuid"))
            .await
            .expect("read");
        assert_eq!(
            stream
                .iter()
                .map(|e| e.event_type.as_str())
                .collect::<Vec<_>>(),
            vec!["MovieAdded"],
            "acknowledged movie {id} is stored"
        );
    }
}
