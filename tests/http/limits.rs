//! The server's bounds (finding 2 of the hardening issue): a slow head, a body that never
//! comes, a request that takes too long, too many connections or requests, and 2 000 idle
//! connections. The bounds are the real server loop (`moviedb_service_kit::serve`) with short limits
//! on a small router, and the whole service with its defaults for the idle connections.

use crate::support::*;
use axum::routing::{get, post};
use axum::Router;
use moviedb_service_kit::ServerLimits;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Serves a router with a quick route, a slow one and one that reads a body, within `limits`.
async fn serve(limits: ServerLimits) -> String {
    let router = Router::new()
        .route("/quick", get(|| async { "ok" }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(3)).await;
                "late"
            }),
        )
        .route(
            "/body",
            post(|body: String| async move { body.len().to_string() }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address").to_string();
    tokio::spawn(moviedb_service_kit::serve(
        listener,
        router,
        limits,
        std::future::pending(),
    ));
    address
}

fn short() -> ServerLimits {
    ServerLimits {
        header_timeout: Duration::from_millis(300),
        body_timeout: Duration::from_millis(300),
        request_timeout: Duration::from_millis(500),
        max_connections: 50,
        max_requests: 20,
    }
}

/// Writes `request`, then reads until the server closes (or 5 s pass: a hang).
async fn exchange(address: &str, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(address).await.expect("connect");
    stream.write_all(request).await.expect("write");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer))
        .await
        .expect("the server cut the connection off instead of keeping it open")
        .expect("read");
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_client_that_never_finishes_its_head_is_cut_off() {
    let address = serve(short()).await;
    let answer = exchange(&address, b"GET /quick HTTP/1.1\r\nHost: x\r\n").await;
    assert!(!answer.contains("200 OK"), "{answer}");
    // And an idle keep-alive connection is closed the same way after its answer.
    let answer = exchange(&address, b"GET /quick HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn a_body_that_never_comes_is_a_408() {
    let address = serve(short()).await;
    let answer = exchange(
        &address,
        b"POST /body HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 1000000\r\n\r\nonly this",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
    assert!(answer.contains("\"status\":408"), "{answer}");
}

#[tokio::test]
async fn a_request_over_its_deadline_is_a_503_to_retry() {
    let address = serve(short()).await;
    let answer = exchange(
        &address,
        b"GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.to_lowercase().contains("retry-after: 1"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
}

#[tokio::test]
async fn connections_and_requests_over_the_bounds_are_503s_not_a_fall() {
    let address = serve(ServerLimits {
        max_connections: 3,
        max_requests: 1,
        request_timeout: Duration::from_secs(10),
        ..short()
    })
    .await;
    // One slow request holds the only request slot: a second is shed.
    let slow = {
        let address = address.clone();
        tokio::spawn(async move {
            exchange(
                &address,
                b"GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            )
            .await
        })
    };
    // Once the slow request holds the slot (however long that takes to happen on a loaded
    // machine), a quick one is shed.
    let mut shed = String::new();
    for _ in 0..50 {
        shed = exchange(
            &address,
            b"GET /quick HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await;
        if shed.starts_with("HTTP/1.1 503") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(shed.starts_with("HTTP/1.1 503"), "{shed}");
    assert!(shed.to_lowercase().contains("retry-after"), "{shed}");
    assert!(slow.await.expect("slow").starts_with("HTTP/1.1 200"));
    // Three idle connections fill the connection bound: a fourth gets a 503 and is closed.
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(TcpStream::connect(&address).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let refused = exchange(&address, b"GET /quick HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(refused.contains("application/problem+json"), "{refused}");
    // Once the idle ones are cut off (header timeout), new clients are served again.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let served = exchange(
        &address,
        b"GET /quick HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(served.starts_with("HTTP/1.1 200"), "{served}");
    drop(idle);
}

/// The whole service, default limits: 2 000 idle connections do not stop it answering. The
/// test starts from the usual soft limit of 1 024 open files, which the server raises to the
/// hard limit at start (without that, it stopped answering: "Too many open files").
#[tokio::test]
async fn the_service_answers_while_two_thousand_connections_idle() {
    let (_, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).expect("limits");
    if hard < 4200 {
        eprintln!(
            "skipped: the hard open-file limit ({hard}) is below what 2 000 connections need"
        );
        return;
    }
    rlimit::setrlimit(rlimit::Resource::NOFILE, 1024, hard).expect("lower the soft limit");
    let app = TestApp::sqlite().await;
    let address = app.base.trim_start_matches("http://").to_owned();
    let mut idle = Vec::with_capacity(2000);
    for _ in 0..2000 {
        idle.push(TcpStream::connect(&address).await.expect("connect"));
    }
    for path in ["/health/live", "/v1/movies"] {
        let response = app
            .request(reqwest::Method::GET, path, None)
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 200, "{path}");
    }
    drop(idle);
}
