//! Hostile bodies (the hardening issue, finding 1): requests of about 1 MiB, of every shape a
//! validator can be slow on, sent to every route that reads a body, while a health check runs
//! beside them. Each must be refused (4xx) in milliseconds, and the health check must not wait.

use crate::load::MakeRequest;
use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;
use serde_json::{json, Value};
use std::sync::Arc;

/// Just under the default 1 MiB body limit.
const NEAR_MIB: usize = 1024 * 1024 - 4096;

/// The bodies: each about 1 MiB, none of them a valid write.
fn shapes() -> Vec<(&'static str, Bytes)> {
    let movie = |genre: Value| json!({ "name": "Hostile", "director": "D", "genre": genre, "imdb_score": 5, "99popularity": 5 });
    let distinct: Vec<String> = (0..95_000).map(|i| format!("g{i:06}")).collect();
    let copies = vec!["Drama"; 125_000];
    let long_name = json!({ "name": "x".repeat(NEAR_MIB - 100), "director": "D", "genre": ["Drama"], "imdb_score": 5, "99popularity": 5 });
    let keys: serde_json::Map<String, Value> = (0..65_000)
        .map(|i| (format!("k{i:06}"), Value::from(i)))
        .collect();
    let bulk: Vec<Value> = (0..75_000).map(|_| json!({ "name": "x" })).collect();
    let depth = NEAR_MIB / 2;
    let nested = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let mut spaces = " ".repeat(NEAR_MIB);
    spaces.push_str("{}");
    let shapes: Vec<(&'static str, Bytes)> = vec![
        (
            "95 000 distinct genres",
            Bytes::from(movie(json!(distinct)).to_string()),
        ),
        (
            "110 000 copies of one genre",
            Bytes::from(movie(json!(copies)).to_string()),
        ),
        ("a 1 MiB name", Bytes::from(long_name.to_string())),
        ("65 000 keys", Bytes::from(Value::Object(keys).to_string())),
        (
            "a bulk of 80 000 items",
            Bytes::from(Value::Array(bulk).to_string()),
        ),
        ("arrays nested 500 000 deep", Bytes::from(nested)),
        ("1 MiB of whitespace", Bytes::from(spaces)),
        (
            "2 MiB (over the limit)",
            Bytes::from(vec![b'['; 2 * 1024 * 1024]),
        ),
    ];
    for (what, body) in &shapes {
        assert!(
            body.len() > 900_000,
            "{what} is about 1 MiB: {} bytes",
            body.len()
        );
    }
    shapes
}

/// The routes that read a body, with an existing movie and user where the path needs one.
fn routes(movie: &str, user: &str) -> Vec<(&'static str, String)> {
    vec![
        ("POST", "/v1/movies".into()),
        ("POST", "/api/movies_curd/".into()),
        ("PUT", format!("/v1/movies/{movie}")),
        ("PATCH", format!("/v1/movies/{movie}")),
        ("PUT", format!("/single_movies/{movie}")),
        ("PUT", format!("/v1/users/{user}/role")),
        ("POST", "/v1/users".into()),
        ("POST", "/api/register/".into()),
        ("POST", "/v1/sessions".into()),
        ("POST", "/api/login_user/".into()),
    ]
}

/// How many (shape, route) pairs there are, and the request for the `n`-th, cycling.
pub fn requests(host: String, token: String, movie: &str, user: &str) -> (usize, MakeRequest) {
    let shapes = shapes();
    let routes = routes(movie, user);
    let cases: Vec<(&'static str, String, Bytes)> = routes
        .iter()
        .flat_map(|(method, path)| {
            shapes
                .iter()
                .map(move |(_, body)| (*method, path.clone(), body.clone()))
        })
        .collect();
    let cases = Arc::new(cases);
    let count = cases.len();
    let make: MakeRequest = Arc::new(move |n| {
        let (method, path, body) = &cases[n as usize % cases.len()];
        Request::builder()
            .method(*method)
            .uri(path.as_str())
            .header("host", &host)
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .body(Full::new(body.clone()))
            .expect("a valid request")
    });
    (count, make)
}
