//! A database outage, made by cutting a TCP proxy between the service and MariaDB (the
//! crates.io approach): every route answers 503 with `Retry-After`, nothing panics, and the
//! service recovers by itself when the database is back. A search backend outage, the same
//! proxy in front of the search server: search and suggest answer 503, everything else
//! answers, and the index catches up with the read models once the server is back.

use crate::chaos_proxy::ChaosProxy;
use crate::support::{movie, problem, TestApp};
use reqwest::Method;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_is_a_503_with_retry_after_and_the_service_recovers() {
    let proxy = ChaosProxy::start().await;
    let app = TestApp::mysql_through(&format!("127.0.0.1:{}", proxy.port)).await;
    let admin = app.admin_token().await;
    assert_eq!(app.add_movie(&admin, &movie("Before")).await.status(), 201);

    proxy.cut();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let reads = app
        .request(Method::GET, "/v1/movies", None)
        .send()
        .await
        .expect("sent");
    assert_eq!(
        reads.headers().get("retry-after").map(|v| v.as_bytes()),
        Some(&b"5"[..])
    );
    problem(reads, 503).await;
    problem(app.add_movie(&admin, &movie("During")).await, 503).await;
    problem(app.login("nobody@example.com", "Whatever_1").await, 503).await;
    problem(
        app.request(Method::GET, "/health/ready", None)
            .send()
            .await
            .expect("sent"),
        503,
    )
    .await;
    let live = app
        .request(Method::GET, "/health/live", None)
        .send()
        .await
        .expect("sent");
    assert_eq!(live.status(), 200, "the process itself is alive");

    proxy.restore().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ready = app
            .request(Method::GET, "/health/ready", None)
            .send()
            .await
            .expect("sent");
        if ready.status() == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the service did not recover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after = app.add_movie(&admin, &movie("After")).await;
    assert_eq!(after.status(), 201);
    let token = after.headers()["consistency-token"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let list = app
        .request(Method::GET, "/v1/movies?sort_by=name.asc", None)
        .header("consistency-token", token)
        .send()
        .await
        .expect("sent");
    assert_eq!(list.status(), 200);
    let body: serde_json::Value = list.json().await.expect("json");
    let names: Vec<&str> = body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|m| m["name"].as_str())
        .collect();
    assert_eq!(
        names,
        ["After", "Before"],
        "the write refused during the outage left nothing"
    );
}

/// Every live movie of the read models, with its version, against what the index holds.
#[cfg(feature = "elasticsearch")]
async fn index_matches_read_models(app: &TestApp) -> Result<(), String> {
    let listed = app
        .request(Method::GET, "/v1/movies?per_page=100", None)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let listed: serde_json::Value = listed.json().await.map_err(|e| e.to_string())?;
    let mut expected: Vec<(String, u64)> = listed["items"]
        .as_array()
        .ok_or("items")?
        .iter()
        .map(|m| {
            (
                m["id"].as_str().unwrap_or_default().to_owned(),
                m["version"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    expected.sort();
    let found = app
        .search
        .search(&moviedb_search::SearchRequest {
            per_page: 100,
            sort: moviedb_search::SearchSort::Name { descending: false },
            ..moviedb_search::SearchRequest::default()
        })
        .await
        .map_err(|e| e.to_string())?;
    let mut indexed: Vec<(String, u64)> = found
        .hits
        .iter()
        .map(|h| (h.movie.id.to_string(), h.movie.version))
        .collect();
    indexed.sort();
    if indexed == expected {
        Ok(())
    } else {
        Err(format!("index {indexed:?}\nread models {expected:?}"))
    }
}

#[cfg(feature = "elasticsearch")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_backend_outage_is_a_503_on_search_only_and_the_index_catches_up() {
    let Some(url) = crate::search_server::shared_url() else {
        return;
    };
    let proxy = ChaosProxy::to(url.trim_start_matches("http://").to_owned()).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let app = TestApp::spawn_on(
        format!("sqlite://{}", dir.path().join("moviedb.db").display()),
        format!("sqlite://{}", dir.path().join("read-models.db").display()),
        Box::new(dir),
        Default::default(),
        Some(moviedb_service_kit::SearchConfig::Elasticsearch {
            url: format!("http://127.0.0.1:{}", proxy.port),
            index_prefix: format!("moviedb-test-{}-", uuid::Uuid::now_v7().simple()),
        }),
    )
    .await;
    let admin = app.admin_token().await;
    let before = app.add_movie(&admin, &movie("Before")).await;
    assert_eq!(before.status(), 201);
    let id: serde_json::Value = before.json().await.expect("json");
    let id = id["id"].as_str().expect("id").to_owned();

    proxy.cut();
    tokio::time::sleep(Duration::from_millis(100)).await;
    for path in ["/v1/movies/search?q=before", "/v1/movies/suggest?q=bef"] {
        let down = app
            .request(Method::GET, path, None)
            .send()
            .await
            .expect("sent");
        assert!(
            down.headers().get("retry-after").is_some(),
            "{path}: a 503 says when to retry"
        );
        problem(down, 503).await;
    }
    // The read models answer, and take writes meanwhile.
    let during = app.add_movie(&admin, &movie("During")).await;
    assert_eq!(during.status(), 201);
    let token = during.headers()["consistency-token"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let list = app
        .request(Method::GET, "/v1/movies?sort_by=name.asc", None)
        .header("consistency-token", &token)
        .send()
        .await
        .expect("sent");
    assert_eq!(list.status(), 200);
    let list: serde_json::Value = list.json().await.expect("json");
    assert_eq!(list["total"], 2);
    let detail = app
        .request(Method::GET, &format!("/v1/movies/{id}"), None)
        .send()
        .await
        .expect("sent");
    assert_eq!(detail.status(), 200);
    let edited = app
        .request(Method::PATCH, &format!("/v1/movies/{id}"), Some(&admin))
        .json(&serde_json::json!({ "imdb_score": 9.9 }))
        .send()
        .await
        .expect("sent");
    assert_eq!(edited.status(), 200);

    proxy.restore().await;
    // The indexer retried meanwhile; once the server answers, the index holds every movie of
    // the read models at its version, with nothing missing.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match index_matches_read_models(&app).await {
            Ok(()) => break,
            Err(e) => {
                assert!(Instant::now() < deadline, "the index did not catch up: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    let found = app
        .request(Method::GET, "/v1/movies/search?q=during", None)
        .send()
        .await
        .expect("sent");
    assert_eq!(found.status(), 200);
    let found: serde_json::Value = found.json().await.expect("json");
    assert_eq!(found["total"], 1, "{found}");
}
