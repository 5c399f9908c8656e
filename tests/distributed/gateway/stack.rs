//! The whole distributed stack the design names, in one test: `command-api`, `projector` and
//! `query-api` as separate processes on MariaDB, the tansu Kafka broker and the search server
//! (Elasticsearch's API), behind the nginx gateway. Nothing here uses tantivy.

use super::{host_port, nginx, start_nginx, ADMIN_EMAIL, ADMIN_PASSWORD, SECRET};
use moviedb_event_store::test_support::MySqlTestDatabase;
use moviedb_test_support::broker::{tansu, Broker};
use moviedb_test_support::process::{free_port, role, Process};
use moviedb_test_support::search_server::SearchServer;
use serde_json::{json, Value};
use std::time::Instant;

struct Gateway {
    base: String,
    client: reqwest::Client,
}

impl Gateway {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        consistency: Option<&str>,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(consistency) = consistency {
            request = request.header("consistency-token", consistency);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.expect("sent")
    }

    async fn get(&self, path: &str, token: Option<&str>, consistency: Option<&str>) -> Value {
        let response = self
            .send(reqwest::Method::GET, path, token, consistency, None)
            .await;
        let status = response.status();
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }
}

fn consistency(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("consistency-token")
        .and_then(|v| v.to_str().ok())
        .expect("a Consistency-Token")
        .to_owned()
}

fn film(name: &str, genre: &str, score: f64) -> Value {
    json!({ "name": name, "director": "Stack Tester", "genre": [genre],
        "imdb_score": score, "99popularity": score * 10.0 })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_stack_on_mariadb_kafka_and_the_search_server_behind_the_gateway() {
    let (Some(nginx), Some(tansu)) = (nginx(), tansu()) else {
        return;
    };
    let Some(search) = SearchServer::start() else {
        return;
    };
    let broker = Broker::start_in_memory(tansu);
    let db = MySqlTestDatabase::new();
    let data = tempfile::tempdir().expect("temp dir");
    let mut env = broker.role_env(db.url(), SECRET, (ADMIN_EMAIL, ADMIN_PASSWORD));
    env.push(("MOVIEDB_ELASTICSEARCH_URL", search.url()));
    let command = role("command-api", &env, data.path());
    let command_address = command.address();
    let projector = role("projector", &env, data.path());
    projector.address();
    let query = role("query-api", &env, data.path());
    let query_address = query.address();
    let nginx_dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let _gateway: Process = start_nginx(
        &nginx,
        nginx_dir.path(),
        &host_port(&command_address),
        &host_port(&query_address),
        port,
    );
    let gw = Gateway {
        base: format!("http://127.0.0.1:{port}"),
        client: reqwest::Client::new(),
    };
    use reqwest::Method;

    // Register and log in, on the original routes and /v1.
    let registered = gw
        .send(
            Method::POST,
            "/api/register/",
            None,
            None,
            Some(json!({ "name": "Ann", "email": "ann@example.com", "password": "Secret_123" })),
        )
        .await;
    assert_eq!(registered.status(), 201);
    let registered_token = consistency(&registered);
    let login = gw
        .send(
            Method::POST,
            "/v1/sessions",
            None,
            None,
            Some(json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD })),
        )
        .await;
    assert_eq!(login.status(), 201);
    let admin: String = login.json::<Value>().await.expect("json")["token"]
        .as_str()
        .expect("token")
        .to_owned();

    // A bulk add, with titles whose punctuation the search analysis splits.
    let mut bulk: Vec<Value> = ["Schindler's List", "E.T. the Extra-Terrestrial", "WALL·E"]
        .iter()
        .map(|n| film(n, "Drama", 8.5))
        .collect();
    bulk.extend((0..97).map(|i| film(&format!("Bulk Title {i}"), "Comedy", 5.0)));
    let added = gw
        .send(
            Method::POST,
            "/v1/movies",
            Some(&admin),
            None,
            Some(json!(bulk)),
        )
        .await;
    assert_eq!(added.status(), 207);
    let bulk_token = consistency(&added);
    let added: Value = added.json().await.expect("json");
    assert_eq!(added["created"], 100);
    let found = gw
        .get(
            "/v1/movies/search?q=schindlers%20list",
            None,
            Some(&bulk_token),
        )
        .await;
    assert_eq!(found["items"][0]["name"], "Schindler's List", "{found}");
    let facets = gw
        .get(
            "/v1/movies/search?genre=comedy&per_page=1&facets=genre",
            None,
            Some(&bulk_token),
        )
        .await;
    assert_eq!(facets["total"], 97);
    assert_eq!(
        facets["facets"]["genre"][0],
        json!({ "genre": "comedy", "count": 97 })
    );
    let suggested = gw
        .get("/v1/movies/suggest?q=e.t", None, Some(&bulk_token))
        .await;
    assert_eq!(
        suggested["items"][0]["name"], "E.T. the Extra-Terrestrial",
        "{suggested}"
    );

    // Read-your-writes through the separate query-api: 200 adds, each searched at once with
    // its token, all found. The token wait reads versions with `_mget?realtime=false`, from
    // the last refresh, as Elasticsearch documents it: a realtime get would see a version
    // before a search can. osmem-server makes every write searchable at once, so this
    // cannot show that race here; it shows the wait covers search through another process.
    let mut missed = Vec::new();
    for n in 0..200 {
        let name = format!("Probe {n} Qx{n:03}");
        let written = gw
            .send(
                Method::POST,
                "/v1/movies",
                Some(&admin),
                None,
                Some(film(&name, "War", 6.0)),
            )
            .await;
        assert_eq!(written.status(), 201);
        let token = consistency(&written);
        // Near names (one typo away) are found too; this one must be among them.
        let found = gw
            .get(
                &format!("/v1/movies/search?q=qx{n:03}&per_page=100"),
                None,
                Some(&token),
            )
            .await;
        let names: Vec<&str> = found["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter_map(|m| m["name"].as_str())
            .collect();
        if !names.contains(&name.as_str()) {
            missed.push((n, found["total"].clone()));
        }
    }
    assert!(
        missed.is_empty(),
        "searched with their tokens, missed: {missed:?}"
    );

    // Edit and delete, each seen by search and suggest with its token.
    let id = gw
        .get("/v1/movies/search?q=wall-e", None, Some(&bulk_token))
        .await["items"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let edited = gw
        .send(
            Method::PATCH,
            &format!("/v1/movies/{id}"),
            Some(&admin),
            None,
            Some(json!({ "imdb_score": 9.7 })),
        )
        .await;
    assert_eq!(edited.status(), 200);
    let edit_token = consistency(&edited);
    let found = gw
        .get("/v1/movies/search?q=wall-e", None, Some(&edit_token))
        .await;
    assert_eq!(found["items"][0]["imdb_score"], 9.7);
    let history = gw
        .get(
            &format!("/v1/movies/{id}/history"),
            Some(&admin),
            Some(&edit_token),
        )
        .await;
    assert_eq!(
        history["events"].as_array().map(Vec::len),
        Some(2),
        "{history}"
    );
    let deleted = gw
        .send(
            Method::DELETE,
            &format!("/v1/movies/{id}"),
            Some(&admin),
            None,
            None,
        )
        .await;
    assert_eq!(deleted.status(), 200);
    let delete_token = consistency(&deleted);
    let found = gw
        .get("/v1/movies/search?q=wall-e", None, Some(&delete_token))
        .await;
    assert_eq!(found["total"], 0, "{found}");
    let suggested = gw
        .get("/v1/movies/suggest?q=wall", None, Some(&delete_token))
        .await;
    assert_eq!(suggested["items"], json!([]), "{suggested}");

    // The user list (admins only) holds the registered user.
    let users = gw
        .get(
            "/v1/users?per_page=100",
            Some(&admin),
            Some(&registered_token),
        )
        .await;
    let emails: Vec<&str> = users["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|u| u["email"].as_str())
        .collect();
    assert!(emails.contains(&"ann@example.com"), "{users}");

    // `moviedb rebuild` fills a new index generation and moves the alias while searches keep
    // answering, every one whole.
    let http = reqwest::Client::new();
    let alias = |http: reqwest::Client, url: String| async move {
        let aliases: Value = http
            .get(format!("{url}/_alias/movies"))
            .send()
            .await
            .expect("sent")
            .json()
            .await
            .expect("json");
        aliases
            .as_object()
            .expect("object")
            .keys()
            .cloned()
            .collect::<Vec<_>>()
    };
    let before = alias(http.clone(), search.url()).await;
    let live = 299;
    assert_eq!(
        gw.get("/v1/movies/search?per_page=1", None, Some(&delete_token))
            .await["total"],
        live
    );
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (stop, base, client) = (stop.clone(), gw.base.clone(), gw.client.clone());
        tokio::spawn(async move {
            let mut reads = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let found: Value = client
                    .get(format!("{base}/v1/movies/search?q=probe&per_page=1"))
                    .send()
                    .await
                    .expect("sent")
                    .json()
                    .await
                    .expect("a JSON page, never an error");
                assert_eq!(found["total"], 200, "a search saw a partial index: {found}");
                reads += 1;
            }
            reads
        })
    };
    let mut rebuild = std::process::Command::new(env!("CARGO_BIN_EXE_moviedb"));
    rebuild
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in &env {
        rebuild.env(k, v);
    }
    let started = Instant::now();
    let rebuilt = rebuild
        .env("MOVIEDB_DATA_DIR", data.path())
        .arg("rebuild")
        .output()
        .expect("moviedb rebuild runs");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let reads = reader.await.expect("reader");
    assert!(
        rebuilt.status.success(),
        "{}",
        String::from_utf8_lossy(&rebuilt.stderr)
    );
    eprintln!(
        "rebuild: {:?}, {reads} searches answered meanwhile: {}",
        started.elapsed(),
        String::from_utf8_lossy(&rebuilt.stdout).trim()
    );
    assert!(reads > 0, "searches answered during the rebuild");
    let after = alias(http.clone(), search.url()).await;
    assert_eq!(after.len(), 1);
    assert_ne!(before, after, "the alias moved to a new generation");
    assert_eq!(
        gw.get("/v1/movies/search?per_page=1", None, None).await["total"],
        live
    );
    // Nothing used tantivy: no service made a search directory.
    let tantivy: Vec<_> = std::fs::read_dir(data.path())
        .expect("data dir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains("search"))
        .map(|e| e.file_name())
        .collect();
    assert!(tantivy.is_empty(), "{tantivy:?}");
    drop((command, projector, query));
}
