//! Child processes for the tests that run the real binaries: killed when dropped, their
//! stderr collected, their listening address read from their logs.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A child process killed when dropped, with its stderr collected.
pub struct Process {
    pub child: Child,
    pub logs: Arc<Mutex<Vec<String>>>,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Process {
    pub fn spawn(mut command: Command) -> Self {
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("process starts");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("stderr");
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().expect("lock").push(line);
            }
        });
        Self { child, logs }
    }

    /// The address a moviedb role logged as the one it listens on.
    pub fn address(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let found = self.logs.lock().expect("lock").iter().find_map(|line| {
                let entry: Value = serde_json::from_str(line).ok()?;
                let message = entry["fields"]["message"].as_str()?;
                message
                    .ends_with("listening")
                    .then(|| entry["fields"]["address"].as_str().map(str::to_owned))?
            });
            if let Some(address) = found {
                return format!("http://{address}");
            }
            assert!(
                Instant::now() < deadline,
                "no listening address in {:?}",
                self.logs.lock().expect("lock")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A moviedb role binary with JSON logs, listening on a free port, with `env` added.
/// The binary of a service crate (`command-api`, `projector`, `query-api`), built beside
/// this test's own executable. Cargo builds a package's binaries for its own integration
/// tests only, so each service crate has one (its `tests/binary.rs`): `cargo test
/// --workspace` (the README's test command) builds all three before any test runs.
pub fn service_binary(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("the test's path");
    // target/<profile>/deps/<test> -> target/<profile>/<name>
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .expect("the target directory")
        .join(name);
    assert!(
        bin.exists(),
        "{} is missing: run the tests with `cargo test --workspace` (scripts/test), which builds \
         the service binaries",
        bin.display()
    );
    bin
}

/// Starts the service `name` (see [`service_binary`]) with the stack's environment.
pub fn role(name: &str, stack_env: &[(&str, String)], data: &Path) -> Process {
    let mut command = Command::new(service_binary(name));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("MOVIEDB_DATA_DIR", data)
        .env("MOVIEDB_LISTEN", "127.0.0.1:0")
        .env("MOVIEDB_LOG_FORMAT", "json")
        .env("RUST_LOG", "info");
    for (k, v) in stack_env {
        command.env(k, v);
    }
    Process::spawn(command)
}

/// Logs in at `base` through `/v1/sessions` (which must answer 201) and returns the token.
pub async fn login(client: &reqwest::Client, base: &str, email: &str, password: &str) -> String {
    let login = client
        .post(format!("{base}/v1/sessions"))
        .json(&serde_json::json!({ "email": email, "password": password }))
        .send()
        .await
        .expect("sent");
    assert_eq!(login.status(), 201);
    login.json::<Value>().await.expect("json")["token"]
        .as_str()
        .expect("token")
        .to_owned()
}
