//! The `query-api` binary refuses a listen address it cannot parse, naming the variable.
//! (Being an integration test of this package, it also makes `cargo test --workspace` build
//! the binary that the workspace's distributed tests spawn.)

use std::process::Command;

#[test]
fn a_malformed_listen_address_is_refused_naming_the_variable() {
    let data = std::env::temp_dir().join(format!("moviedb-query-api-{}", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_query-api"))
        .env_clear()
        .env("MOVIEDB_DATA_DIR", &data)
        .env("MOVIEDB_LISTEN", "everywhere")
        .output()
        .expect("the binary runs");
    let _ = std::fs::remove_dir_all(&data);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "it started: {stderr}");
    assert!(
        stderr.contains("MOVIEDB_LISTEN: invalid socket address syntax (got `everywhere`)"),
        "{stderr}"
    );
}
