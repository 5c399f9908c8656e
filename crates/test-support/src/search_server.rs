//! The OpenSearch-compatible test server osmem-server, standing in for Elasticsearch: found
//! through `MOVIEDB_SEARCH_SERVER` (set by `scripts/test`) or in `.tools/`; missing, the test
//! says it was skipped, unless `MOVIEDB_REQUIRE_ELASTICSEARCH=1` makes that a failure. It is
//! not Elasticsearch: where the two differ, the test that meets the difference says so.

use crate::process::free_port;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The server's binary, if this machine has one.
pub fn binary() -> Option<PathBuf> {
    let found = std::env::var_os("MOVIEDB_SEARCH_SERVER")
        .map(PathBuf::from)
        .or_else(|| {
            let local = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
                .join(".tools/osmem/osmem_server/bin/osmem-server");
            local.exists().then_some(local)
        });
    if found.is_none() {
        require_absent("no osmem-server (scripts/ensure-search-server installs it)");
    }
    found
}

/// The shared server `scripts/test` started (`MOVIEDB_TEST_ELASTICSEARCH_URL`), for tests
/// that keep to an index prefix of their own.
pub fn shared_url() -> Option<String> {
    match std::env::var("MOVIEDB_TEST_ELASTICSEARCH_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            require_absent("MOVIEDB_TEST_ELASTICSEARCH_URL is not set");
            None
        }
    }
}

fn require_absent(why: &str) {
    assert!(
        std::env::var("MOVIEDB_REQUIRE_ELASTICSEARCH").is_err(),
        "MOVIEDB_REQUIRE_ELASTICSEARCH is set but {why}"
    );
    eprintln!("SKIPPED: the Elasticsearch part of this test ({why}; scripts/test runs it)");
}

/// A server of the test's own, which it may stop and start again on the same port (what it
/// held is gone then: the server keeps everything in memory).
pub struct SearchServer {
    binary: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl SearchServer {
    pub fn start() -> Option<Self> {
        let mut server = Self {
            binary: binary()?,
            port: free_port(),
            child: None,
        };
        server.restart();
        Some(server)
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stops the server: requests to it are refused until [`SearchServer::restart`].
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// (Re)starts the server on the same port, empty, and waits until it answers.
    pub fn restart(&mut self) {
        self.stop();
        let mut child = Command::new(&self.binary)
            .args([
                "-addr",
                &format!("127.0.0.1:{}", self.port),
                "-no-stdin-watch",
                "-parent-pid",
                &std::process::id().to_string(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("osmem-server starts");
        // It prints one JSON line with its address once it listens.
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = tx.send(lines.next());
            for _ in lines {}
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("osmem-server prints its address");
        assert!(
            matches!(line, Some(Ok(ref l)) if l.contains("\"url\"")),
            "osmem-server did not start: {line:?}"
        );
        self.child = Some(child);
    }
}

impl Drop for SearchServer {
    fn drop(&mut self) {
        self.stop();
    }
}
