//! A database outage, made by cutting a TCP proxy between the service and MariaDB (the
//! crates.io approach): every route answers 503 with `Retry-After`, nothing panics, and the
//! service recovers by itself when the database is back.

use crate::support::{movie, problem, TestApp};
use moviedb_event_store::test_support::mysql_server_url;
use reqwest::Method;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

/// Forwards 127.0.0.1:<port> to the MySQL server until cut.
struct ChaosProxy {
    port: u16,
    upstream: String,
    tasks: Arc<Mutex<Vec<AbortHandle>>>,
}

impl ChaosProxy {
    async fn start() -> Self {
        let server = mysql_server_url();
        let upstream = server
            .split_once("://")
            .map(|(_, rest)| rest.rsplit_once('@').map_or(rest, |(_, host)| host))
            .expect("a MySQL URL")
            .trim_end_matches('/')
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let proxy = Self {
            port,
            upstream,
            tasks: Arc::new(Mutex::new(Vec::new())),
        };
        proxy.serve(listener);
        proxy
    }

    fn serve(&self, listener: TcpListener) {
        let (upstream, tasks) = (self.upstream.clone(), self.tasks.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let pipe = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                tasks.lock().expect("lock").push(pipe.abort_handle());
            }
        });
        self.tasks.lock().expect("lock").push(accept.abort_handle());
    }

    /// Closes every connection and stops listening: the database is "down".
    fn cut(&self) {
        for task in self.tasks.lock().expect("lock").drain(..) {
            task.abort();
        }
    }

    /// Listens again on the same port.
    async fn restore(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(listener) => return self.serve(listener),
                Err(e) => {
                    assert!(Instant::now() < deadline, "cannot rebind the proxy: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}

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
