//! The Kafka-compatible broker tansu for the tests that need one: found through
//! `MOVIEDB_TANSU` (set by `scripts/test`) or on the `PATH`; missing, the test says it was
//! skipped, unless `MOVIEDB_REQUIRE_KAFKA=1` makes that a failure.

#![allow(dead_code)]

use super::process::{free_port, Process};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

pub fn tansu() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("MOVIEDB_TANSU") {
        return Some(PathBuf::from(path));
    }
    let found = Command::new("sh")
        .args(["-c", "command -v tansu"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    if found.is_none() {
        assert!(
            std::env::var("MOVIEDB_REQUIRE_KAFKA").is_err(),
            "MOVIEDB_REQUIRE_KAFKA is set but no tansu broker was found (scripts/ensure-tansu)"
        );
        eprintln!("SKIPPED: no tansu broker (set MOVIEDB_TANSU or run scripts/test)");
    }
    found
}

pub struct Broker {
    binary: PathBuf,
    port: u16,
    dir: tempfile::TempDir,
    process: Option<Process>,
}

impl Broker {
    pub fn start(binary: PathBuf) -> Self {
        let mut broker = Self {
            binary,
            port: free_port(),
            dir: tempfile::tempdir().expect("temp dir"),
            process: None,
        };
        broker.restart();
        broker
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// (Re)starts the broker on the same port and the same on-disk storage.
    pub fn restart(&mut self) {
        self.process = None;
        let url = format!("tcp://{}", self.address());
        let mut command = Command::new(&self.binary);
        command.args([
            "broker",
            "--listener-url",
            &url,
            "--advertised-listener-url",
            &url,
            // tansu reads the path after `sqlite://` relative to its working directory.
            "--storage-engine",
            "sqlite://tansu.db",
        ]);
        command.current_dir(self.dir.path());
        self.process = Some(Process::spawn(command));
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(self.address()).is_err() {
            assert!(Instant::now() < deadline, "tansu did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn stop(&mut self) {
        self.process = None;
    }
}
