//! The OpenAPI document against the code: `docs/openapi.json` (what the query API serves) is
//! what `moviedb openapi` makes from the annotated handlers today, and every route the two
//! sides declare has a documented operation, and every documented operation a route.

use std::collections::BTreeSet;
use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_served_document_is_the_one_the_code_makes() {
    let made = moviedb::openapi::json();
    let served = std::fs::read_to_string(root().join("docs/openapi.json")).expect("the file");
    assert!(
        served.trim() == made.trim(),
        "docs/openapi.json is stale: run `cargo run -- openapi > docs/openapi.json`"
    );
    let doc: serde_json::Value = serde_json::from_str(&made).expect("JSON");
    assert_eq!(doc["openapi"], "3.1.0");
}

/// `(method, path)` of every route declared with `.route("path", get(..).post(..))` in the
/// services' routers, paths without a trailing slash (the server trims it).
fn declared_routes() -> BTreeSet<(String, String)> {
    let mut routes = BTreeSet::new();
    for dir in ["command-api/src/routes", "query-api/src/routes"] {
        for entry in std::fs::read_dir(root().join(dir)).expect("routes") {
            let text = std::fs::read_to_string(entry.expect("entry").path()).expect("source");
            for call in text.split(".route(\"").skip(1) {
                let (path, rest) = call.split_once('"').expect("a quoted path");
                // The method routers: up to the `))` that closes the `.route(` call.
                let methods = &rest[..rest.find("))").map_or(rest.len(), |i| i + 1)];
                for method in ["get", "post", "put", "patch", "delete"] {
                    let called = format!("{method}(");
                    if methods.contains(&called) {
                        routes.insert((method.to_owned(), path.trim_end_matches('/').to_owned()));
                    }
                }
            }
        }
    }
    routes
}

fn documented_operations() -> BTreeSet<(String, String)> {
    let doc: serde_json::Value = serde_json::from_str(&moviedb::openapi::json()).expect("JSON");
    let mut operations = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                operations.insert((method.to_owned(), path.trim_end_matches('/').to_owned()));
            }
        }
    }
    operations
}

#[test]
fn every_route_is_documented_and_every_operation_is_a_route() {
    let declared = declared_routes();
    assert!(
        declared.len() >= 20,
        "the scan found the routes: {declared:?}"
    );
    let documented = documented_operations();
    let undocumented: Vec<_> = declared.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "routes without an operation: {undocumented:?}"
    );
    // `/docs` is Swagger UI's router (tested over HTTP in tests/http/docs.rs).
    let unrouted: Vec<_> = documented
        .difference(&declared)
        .filter(|(_, path)| path != "/docs")
        .collect();
    assert!(
        unrouted.is_empty(),
        "operations without a route: {unrouted:?}"
    );
}

#[test]
fn every_operation_has_an_id_a_summary_and_its_error_answers() {
    let doc: serde_json::Value = serde_json::from_str(&moviedb::openapi::json()).expect("JSON");
    let mut ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("item") {
            let id = operation["operationId"].as_str().unwrap_or_default();
            assert!(!id.is_empty(), "{method} {path} has no operationId");
            assert!(ids.insert(id.to_owned()), "{id} twice");
            assert!(operation["summary"].is_string(), "{method} {path}");
            let responses = operation["responses"].as_object().expect("responses");
            if !["/", "/docs", "/openapi.json"].contains(&path.as_str()) {
                for status in ["400", "500", "503"] {
                    assert!(
                        responses.contains_key(status),
                        "{method} {path}: no {status}"
                    );
                }
                assert_eq!(
                    responses["503"]["content"]["application/problem+json"]["schema"]["$ref"],
                    "#/components/schemas/Problem",
                    "{method} {path}"
                );
            }
        }
    }
}
