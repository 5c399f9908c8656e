//! The dependency rules of ARCHITECTURE.md, checked over `cargo metadata`: this test fails the
//! build when a change crosses a seam.
//!
//! - No service crate (`command-api`, `projector`, `query-api`) depends on another.
//! - No library (`crates/*`) depends on a service crate.
//! - The domain depends on no I/O crate: only the pure ones listed in [`DOMAIN_MAY_USE`].
//! - The SQL kit (what the stores share) depends on no other moviedb crate.
//! - The query API needs only the read database, the search index and the posters' object
//!   store: it depends on neither the event store nor the broker (admin checks use the
//!   projected users, a movie's history is a projection).

use serde_json::Value;
use std::collections::BTreeMap;
use std::process::Command;

const SERVICES: [&str; 3] = [
    "moviedb-command-api",
    "moviedb-projector",
    "moviedb-query-api",
];

/// Everything the domain may depend on: values, time, ids, errors, text. No database, no
/// runtime, no HTTP, no broker, no index.
const DOMAIN_MAY_USE: [&str; 7] = [
    "chrono",
    "serde",
    "serde_json",
    "thiserror",
    "uuid",
    "unicode-normalization",
    "proptest",
];

/// What the query API may not depend on.
const QUERY_SIDE_MAY_NOT_USE: [&str; 2] = ["moviedb-event-store", "moviedb-kafka"];

/// Each workspace package and the names of everything it depends on (any kind: a test helper
/// that pulls in another service crosses the seam too).
fn workspace() -> BTreeMap<String, (String, Vec<String>)> {
    let out = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let metadata: Value = serde_json::from_slice(&out.stdout).expect("metadata is JSON");
    let root = env!("CARGO_MANIFEST_DIR");
    metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| {
            let name = p["name"].as_str().expect("name").to_owned();
            let dir = p["manifest_path"]
                .as_str()
                .expect("manifest path")
                .trim_start_matches(root)
                .trim_start_matches('/')
                .trim_end_matches("Cargo.toml")
                .trim_end_matches('/')
                .to_owned();
            let deps = p["dependencies"]
                .as_array()
                .expect("dependencies")
                .iter()
                .map(|d| d["name"].as_str().expect("dependency name").to_owned())
                .collect();
            (name, (dir, deps))
        })
        .collect()
}

/// Each broken rule, as a sentence.
fn broken_rules(packages: &BTreeMap<String, (String, Vec<String>)>) -> Vec<String> {
    let mut broken = Vec::new();
    for (name, (dir, deps)) in packages {
        let is_service = SERVICES.contains(&name.as_str());
        let is_library = dir.starts_with("crates/");
        for dep in deps {
            if SERVICES.contains(&dep.as_str()) && (is_service || is_library) {
                broken.push(format!("{name} ({dir}) depends on the service crate {dep}"));
            }
        }
        if name == "moviedb-query-api" {
            for dep in deps {
                if QUERY_SIDE_MAY_NOT_USE.contains(&dep.as_str()) {
                    broken.push(format!(
                        "the query API depends on {dep}: it may read only the read models and the search index"
                    ));
                }
            }
        }
        if name == "moviedb-sql-kit" {
            for dep in deps.iter().filter(|d| d.starts_with("moviedb")) {
                broken.push(format!(
                    "the SQL kit depends on {dep}: it is the stores' floor"
                ));
            }
        }
        if name == "moviedb-domain" {
            for dep in deps {
                if !DOMAIN_MAY_USE.contains(&dep.as_str()) {
                    broken.push(format!("the domain depends on {dep}, which is not pure"));
                }
            }
        }
    }
    for service in SERVICES {
        let (dir, _) = packages
            .get(service)
            .unwrap_or_else(|| panic!("{service} is not in the workspace"));
        assert!(
            !dir.starts_with("crates/") && !dir.is_empty(),
            "{service} lives in `{dir}`: the services are top-level folders"
        );
    }
    broken
}

#[test]
fn no_crate_crosses_a_seam() {
    let packages = workspace();
    assert!(packages.contains_key("moviedb-domain"), "{packages:?}");
    let broken = broken_rules(&packages);
    assert!(broken.is_empty(), "seams crossed:\n{}", broken.join("\n"));
}

#[test]
fn the_rules_catch_what_crosses_a_seam() {
    // The check itself, on the real workspace with dependencies added: query-api on the
    // projector (how the two services were once tied) and on the event store (how the query
    // side once read histories and roles), the domain on a database driver.
    let mut packages = workspace();
    packages
        .get_mut("moviedb-query-api")
        .expect("query-api")
        .1
        .push("moviedb-projector".into());
    packages
        .get_mut("moviedb-query-api")
        .expect("query-api")
        .1
        .push("moviedb-event-store".into());
    packages
        .get_mut("moviedb-domain")
        .expect("domain")
        .1
        .push("sqlx".into());
    packages
        .get_mut("moviedb-sql-kit")
        .expect("sql-kit")
        .1
        .push("moviedb-event-store".into());
    let broken = broken_rules(&packages);
    assert_eq!(broken.len(), 4, "{broken:?}");
    assert!(
        broken
            .iter()
            .any(|b| b.contains("the SQL kit depends on moviedb-event-store")),
        "{broken:?}"
    );
    assert!(
        broken
            .iter()
            .any(|b| b.contains("the query API depends on moviedb-event-store")),
        "{broken:?}"
    );
    assert!(
        broken.iter().any(|b| b.starts_with(
            "moviedb-query-api (query-api) depends on the service crate moviedb-projector"
        )),
        "{broken:?}"
    );
    assert!(
        broken
            .iter()
            .any(|b| b.contains("the domain depends on sqlx")),
        "{broken:?}"
    );
}

/// The environment is read once, at start, by `crates/service-kit/src/config/vars.rs`: no other
/// source file of the services (tests and the harness aside) reads a variable, so a setting
/// cannot change under a running process or be read twice with two answers.
#[test]
fn only_the_configuration_reads_the_environment() {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("folder").flatten() {
            let path = entry.path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "tests") {
                    walk(&path, out);
                }
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in [
        "src",
        "crates",
        "command-api/src",
        "projector/src",
        "query-api/src",
    ] {
        walk(&root.join(dir), &mut files);
    }
    assert!(
        files.len() > 50,
        "{} files: the walk is broken",
        files.len()
    );
    let allowed = root.join("crates/service-kit/src/config/vars.rs");
    let readers: Vec<String> = files
        .iter()
        .filter(|path| {
            **path != allowed
                && !path.ends_with("test_support.rs")
                && !path.starts_with(root.join("crates/test-support"))
        })
        .filter(|path| {
            let text = std::fs::read_to_string(path).expect("source");
            [
                "env::var(",
                "env::var_os(",
                "env::vars(",
                "from_default_env(",
            ]
            .iter()
            .any(|call| text.contains(call))
        })
        .map(|path| path.display().to_string())
        .collect();
    assert!(
        readers.is_empty(),
        "read the environment after start: {readers:?}"
    );
}

/// Every Rust source file under `dir`, tests included.
fn sources(dir: &std::path::Path) -> Vec<(std::path::PathBuf, String)> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_owned()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("folder").flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("source");
                out.push((path, text));
            }
        }
    }
    out
}

/// The query API reads the read models through `ReadModels` alone: the port that writes them
/// (`ReadModelWriter`: apply, dead letters, histories, rebuilds) is the projector's.
#[test]
fn the_query_api_never_holds_the_read_models_writer() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = sources(&root.join("query-api/src"));
    assert!(files.len() > 5, "the walk is broken");
    let writers: Vec<String> = files
        .iter()
        .filter(|(_, text)| text.contains("ReadModelWriter"))
        .map(|(path, _)| path.display().to_string())
        .collect();
    assert!(
        writers.is_empty(),
        "the query API uses the writing port: {writers:?}"
    );
}

/// Metric names belong to the services (`crates/service-kit/src/gauges.rs`, `metrics.rs`):
/// no store crate names a metric.
#[test]
fn no_store_crate_names_a_metric() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut named = Vec::new();
    for krate in [
        "event-store",
        "read-model",
        "search",
        "kafka",
        "domain",
        "wire",
    ] {
        for (path, text) in sources(&root.join("crates").join(krate).join("src")) {
            // A literal `"moviedb_..."` that is a whole name (a test database's name is a
            // format string, `"moviedb_test_{}"`).
            let names_one = text.match_indices("\"moviedb_").any(|(at, _)| {
                let literal = text[at + 1..].split('"').next().unwrap_or_default();
                !literal.contains('{')
            });
            if names_one {
                named.push(path.display().to_string());
            }
        }
    }
    assert!(
        named.is_empty(),
        "metric names outside the services: {named:?}"
    );
}
