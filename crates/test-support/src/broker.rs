//! The Kafka-compatible broker tansu for the tests that need one: found through
//! `MOVIEDB_TANSU` (set by `scripts/test`) or on the `PATH`; missing, the test says it was
//! skipped, unless `MOVIEDB_REQUIRE_KAFKA=1` makes that a failure.

use crate::process::{free_port, Process};
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
    /// In memory (`memory://`) rather than on disk (`sqlite://`).
    in_memory: bool,
    process: Option<Process>,
}

impl Broker {
    /// A broker on disk (`sqlite://`): what it holds survives [`Broker::restart`].
    pub fn start(binary: PathBuf) -> Self {
        Self::started(binary, false)
    }

    /// A broker in memory, for tests that never restart it. tansu 0.6's SQLite engine does
    /// not survive clients killed over and over: its group coordinator then waits for good
    /// on a storage update (every heartbeat times out), and its idempotent-producer
    /// bookkeeping panics ("more or less than one row"). Seen in the crash-point suite.
    pub fn start_in_memory(binary: PathBuf) -> Self {
        Self::started(binary, true)
    }

    fn started(binary: PathBuf, in_memory: bool) -> Self {
        let mut broker = Self {
            binary,
            port: free_port(),
            dir: tempfile::tempdir().expect("temp dir"),
            in_memory,
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
            "--storage-engine",
            // tansu reads the path after `sqlite://` relative to its working directory.
            if self.in_memory {
                "memory://tansu/"
            } else {
                "sqlite://tansu.db"
            },
        ]);
        command.current_dir(self.dir.path());
        self.process = Some(Process::spawn(command));
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(self.address()).is_err() {
            assert!(Instant::now() < deadline, "tansu did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The environment of a moviedb role on `database_url` and this broker: topics and a
    /// consumer group of its own (named after a fresh prefix), the JWT `secret`, the bootstrap
    /// `admin` (e-mail, password) and a 5 s wait for Consistency-Tokens.
    pub fn role_env(
        &self,
        database_url: &str,
        secret: &str,
        admin: (&str, &str),
    ) -> Vec<(&'static str, String)> {
        let prefix = format!("t{}", uuid::Uuid::now_v7().simple());
        vec![
            ("MOVIEDB_DATABASE_URL", database_url.to_owned()),
            ("MOVIEDB_KAFKA_BROKERS", self.address()),
            ("MOVIEDB_KAFKA_GROUP", format!("{prefix}-projector")),
            ("MOVIEDB_KAFKA_TOPIC_PREFIX", prefix),
            ("MOVIEDB_KAFKA_PARTITIONS", "3".to_owned()),
            ("MOVIEDB_JWT_SECRET", secret.to_owned()),
            ("MOVIEDB_ADMIN_EMAIL", admin.0.to_owned()),
            ("MOVIEDB_ADMIN_PASSWORD", admin.1.to_owned()),
            ("MOVIEDB_CONSISTENCY_WAIT_MS", "5000".to_owned()),
        ]
    }

    /// What the broker wrote to stderr so far.
    pub fn logs(&self) -> std::sync::Arc<std::sync::Mutex<Vec<String>>> {
        self.process
            .as_ref()
            .map(|p| p.logs.clone())
            .unwrap_or_default()
    }

    pub fn stop(&mut self) {
        self.process = None;
    }
}
