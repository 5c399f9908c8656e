//! The walk-through of `docs/api.md` is `scripts/walkthrough`: run here against the real
//! binary, and checked to be what the page shows, so the two cannot drift.

use super::*;

const MARKER: &str = "# --- walk-through ---\n";

#[tokio::test]
async fn the_documented_walkthrough_runs_as_written() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = std::fs::read_to_string(root.join("scripts/walkthrough")).expect("script");
    let steps = script.split_once(MARKER).expect("the marker").1;
    let page = std::fs::read_to_string(root.join("docs/api.md")).expect("docs/api.md");
    assert!(
        page.contains(steps),
        "docs/api.md shows scripts/walkthrough from `{}` on, verbatim",
        MARKER.trim()
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let running = start(dir.path());
    let out = tokio::process::Command::new("bash")
        .arg(root.join("scripts/walkthrough"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("BASE", &running.base)
        .env("ADMIN_EMAIL", "boot@example.com")
        .env("ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("MOVIEDB", env!("CARGO_BIN_EXE_moviedb"))
        .env("MOVIEDB_DATA_DIR", dir.path())
        .env("RUST_LOG", "warn")
        .output()
        .await
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for seen in [
        "80 created",
        "\"1\"",
        "Vertigo",
        "2001: A Space Odyssey",
        "\"name\":\"Ada\"",
        "MovieAdded",
    ] {
        assert!(stdout.contains(seen), "no `{seen}` in:\n{stdout}");
    }
    stop(running);
}
