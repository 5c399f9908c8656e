//! The `command-api` binary refuses a configuration it cannot run with, saying why, instead of
//! starting with a weak secret. (Being an integration test of this package, it also makes
//! `cargo test --workspace` build the binary that the workspace's distributed tests spawn.)

use std::process::Command;

#[test]
fn a_short_token_secret_is_refused_before_anything_starts() {
    let data = std::env::temp_dir().join(format!("moviedb-command-api-{}", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_command-api"))
        .env_clear()
        .env("MOVIEDB_DATA_DIR", &data)
        .env("MOVIEDB_LISTEN", "127.0.0.1:0")
        .env("MOVIEDB_JWT_SECRET", "too short")
        .output()
        .expect("the binary runs");
    let _ = std::fs::remove_dir_all(&data);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "it started: {stderr}");
    assert!(
        stderr.contains("MOVIEDB_JWT_SECRET: must be at least 32 characters"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        !stderr.contains("too short"),
        "the secret is not echoed: {stderr}"
    );
}
