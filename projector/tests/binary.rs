//! The `projector` binary names what is wrong with its database URL instead of starting
//! without a feed. (Being an integration test of this package, it also makes `cargo test
//! --workspace` build the binary that the workspace's distributed tests spawn.)

use std::process::Command;

#[test]
fn an_unsupported_database_url_is_refused_with_the_password_hidden() {
    let data = std::env::temp_dir().join(format!("moviedb-projector-{}", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_projector"))
        .env_clear()
        .env("MOVIEDB_DATA_DIR", &data)
        .env("MOVIEDB_LISTEN", "127.0.0.1:0")
        .env(
            "MOVIEDB_DATABASE_URL",
            "postgres://moviedb:hunter2secret@db/moviedb",
        )
        .output()
        .expect("the binary runs");
    let _ = std::fs::remove_dir_all(&data);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "it started: {stderr}");
    assert!(
        stderr.contains("unsupported database URL scheme"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("hunter2secret"),
        "the password leaked: {stderr}"
    );
}
