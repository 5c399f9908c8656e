//! The `moviedb` binary as a user runs it: environment configuration, bootstrap admin,
//! `admin create`, graceful shutdown on SIGTERM, and logs (at debug level) free of secrets.

mod compose;
mod docs;
mod import;
mod openapi;
mod posters;
mod rebuild;
mod seams;
mod walkthrough;

use moviedb_event_store::test_support::MySqlTestDatabase;
use moviedb_event_store::{EventStore, MySqlEventStore, SqliteEventStore};
use moviedb_test_support::{chaos_proxy, process};
use process::Process;
use serde_json::{json, Value};
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

const ADMIN_PASSWORD: &str = "Boot_strap9";
const USER_PASSWORD: &str = "Us3r_secret";

struct Running {
    process: Process,
    base: String,
}

fn moviedb(data_dir: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_moviedb"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("MOVIEDB_DATA_DIR", data_dir)
        .env("MOVIEDB_LISTEN", "127.0.0.1:0")
        .env("MOVIEDB_LOG_FORMAT", "json")
        .env("RUST_LOG", "debug");
    command
}

fn start(data_dir: &std::path::Path) -> Running {
    let mut command = moviedb(data_dir);
    command
        .env("MOVIEDB_ADMIN_EMAIL", "boot@example.com")
        .env("MOVIEDB_ADMIN_PASSWORD", ADMIN_PASSWORD);
    let process = Process::spawn(command);
    let base = process.address();
    Running { process, base }
}

fn stop(mut running: Running) -> Vec<String> {
    let pid = running.process.child.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let status = running.process.child.wait().expect("waits");
    assert!(
        status.success(),
        "moviedb exits cleanly on SIGTERM: {status}"
    );
    std::thread::sleep(Duration::from_millis(100));
    let logs = running.process.logs.lock().expect("lock").clone();
    logs
}

#[tokio::test]
async fn the_binary_bootstraps_its_admin_once_shuts_down_on_sigterm_and_never_logs_secrets() {
    let dir = tempfile::tempdir().expect("temp dir");
    let client = reqwest::Client::new();

    let running = start(dir.path());
    let base = running.base.clone();
    let register = client
        .post(format!("{base}/api/register/"))
        .json(&json!({ "name": "Ada", "email": "ada@example.com", "password": USER_PASSWORD }))
        .send()
        .await
        .expect("sent");
    assert_eq!(register.status(), 201);
    let login = client
        .post(format!("{base}/api/login_user/"))
        .json(&json!({ "email": "boot@example.com", "password": ADMIN_PASSWORD }))
        .send()
        .await
        .expect("sent");
    assert_eq!(login.status(), 201);
    let token = login.json::<Value>().await.expect("json")["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let added = client
        .post(format!("{base}/api/movies_curd/"))
        .header("x-access-token", &token)
        .json(&json!({ "99popularity": 83.0, "director": "Victor Fleming", "genre": ["Adventure"], "imdb_score": 8.3, "name": "The Wizard of Oz" }))
        .send()
        .await
        .expect("sent");
    assert_eq!(added.status(), 201);
    let wrong = client
        .post(format!("{base}/v1/sessions"))
        .json(&json!({ "email": "ada@example.com", "password": "Wrong_pass1" }))
        .send()
        .await
        .expect("sent");
    assert_eq!(wrong.status(), 401);
    let mut logs = stop(running);

    // A second start finds the admin and creates nothing.
    let running = start(dir.path());
    logs.extend(stop(running));

    let secret_file = dir.path().join("jwt-secret");
    let jwt_secret =
        std::fs::read_to_string(&secret_file).expect("a generated secret is kept in the data dir");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secret_file)
            .expect("meta")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "the secret is readable by its owner only");
    }

    let store = SqliteEventStore::connect(&format!(
        "sqlite://{}",
        dir.path().join("moviedb.db").display()
    ))
    .await
    .expect("store");
    let events = store.read_all(0, 1000).await.expect("events");
    let admins = events
        .iter()
        .filter(|e| e.event_type == "UserRegistered" && e.payload["role"] == "admin")
        .count();
    assert_eq!(admins, 1, "the bootstrap admin is created once");
    assert!(logs
        .iter()
        .any(|l| l.contains("bootstrap admin already exists")));

    let mut secrets = vec![
        ADMIN_PASSWORD.to_owned(),
        USER_PASSWORD.to_owned(),
        "Wrong_pass1".to_owned(),
        jwt_secret.trim().to_owned(),
        token,
    ];
    for email in ["ada@example.com", "boot@example.com"] {
        let hash = store
            .credentials_by_email(email)
            .await
            .expect("lookup")
            .expect("stored")
            .password_hash;
        secrets.push(hash.rsplit('$').next().expect("digest").to_owned());
        secrets.push(hash);
    }
    assert!(
        logs.len() > 10,
        "debug logging produced lines to check: {}",
        logs.len()
    );
    for line in &logs {
        for secret in &secrets {
            assert!(
                !line.contains(secret.as_str()),
                "a log line holds a secret: {line}"
            );
        }
    }
}

/// The environment is checked before anything starts: a bad value stops the binary with a
/// message naming its variable, and an empty variable (compose files pass `VAR=` through)
/// counts as unset.
#[test]
fn a_bad_variable_is_named_and_an_empty_one_is_unset() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, value) in [
        ("MOVIEDB_LISTEN", "nowhere"),
        ("MOVIEDB_THROTTLE_WINDOW_SECS", "0"),
        ("MOVIEDB_JWT_SECRET", "too-short"),
    ] {
        let out = moviedb(dir.path())
            .env(name, value)
            .output()
            .expect("moviedb runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name}={value} was accepted");
        assert!(stderr.contains(name), "{name}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let mut command = moviedb(dir.path());
    command
        .env("MOVIEDB_KAFKA_BROKERS", "")
        .env("MOVIEDB_ELASTICSEARCH_URL", " ")
        // The default log level: tantivy's INFO lines about its meta files stay out.
        .env_remove("RUST_LOG");
    let process = Process::spawn(command);
    // It listens: the empty Kafka and Elasticsearch variables left the embedded default.
    let base = process.address();
    let logs = stop(Running { process, base });
    assert!(logs.iter().any(|l| l.contains("listening")), "{logs:?}");
    assert!(
        !logs.iter().any(|l| l.contains(r#""target":"tantivy"#)),
        "tantivy at WARN by default: {logs:?}"
    );
}

fn admin_create(
    data_dir: &std::path::Path,
    database_url: Option<&str>,
    email: &str,
    stdin: &str,
) -> std::process::Output {
    let mut command = moviedb(data_dir);
    command.args(["admin", "create", "--email", email, "--name", "Ops"]);
    if let Some(url) = database_url {
        command.env("MOVIEDB_DATABASE_URL", url);
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write");
    child.wait_with_output().expect("output")
}

#[test]
fn admin_create_registers_an_admin_idempotently_on_sqlite_and_mysql() {
    let db = MySqlTestDatabase::new();
    for database_url in [None, Some(db.url())] {
        let dir = tempfile::tempdir().expect("temp dir");
        let first = admin_create(dir.path(), database_url, "ops@example.com", "Ops_pass12\n");
        assert!(
            first.status.success(),
            "{}",
            String::from_utf8_lossy(&first.stderr)
        );
        assert!(String::from_utf8_lossy(&first.stdout).contains("created admin ops@example.com"));
        let again = admin_create(dir.path(), database_url, "OPS@example.com", "Ops_pass12\n");
        assert!(again.status.success());
        assert!(String::from_utf8_lossy(&again.stdout).contains("already an admin"));
        let weak = admin_create(dir.path(), database_url, "weak@example.com", "weak\n");
        assert!(!weak.status.success(), "a weak password is refused");
        assert!(String::from_utf8_lossy(&weak.stderr).contains("password"));
        let combined = format!(
            "{}{}",
            String::from_utf8_lossy(&first.stderr),
            String::from_utf8_lossy(&first.stdout)
        );
        assert!(
            !combined.contains("Ops_pass12"),
            "the password is not echoed"
        );
    }
}

/// `url` with its `host:port` replaced by `address`.
fn through(url: &str, address: &str) -> (String, String) {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let (userinfo, rest) = match rest.rsplit_once('@') {
        Some((user, rest)) => (format!("{user}@"), rest),
        None => (String::new(), rest),
    };
    let (server, path) = rest.split_once('/').expect("a database name");
    (
        format!("{scheme}://{userinfo}{address}/{path}"),
        server.to_owned(),
    )
}

/// Started while its MySQL server does not answer yet (a container still starting), the
/// service waits for it, logging each try, and comes up once it answers: it does not exit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_started_before_its_database_answers_waits_for_it() {
    let db = MySqlTestDatabase::new();
    let port = process::free_port();
    let (url, server) = through(db.url(), &format!("127.0.0.1:{port}"));
    let data = tempfile::tempdir().expect("temp dir");
    let mut command = moviedb(data.path());
    command.env("MOVIEDB_DATABASE_URL", &url);
    let mut process = Process::spawn(command);

    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        process.child.try_wait().expect("status").is_none(),
        "the service ended while its database was down: {:?}",
        process.logs.lock().expect("logs")
    );
    assert!(
        process
            .logs
            .lock()
            .expect("logs")
            .iter()
            .any(|l| l.contains("not reachable yet")),
        "each try is logged"
    );

    // The database answers now (the proxy on the port the service was given comes up).
    let proxy = chaos_proxy::ChaosProxy::down(port, server);
    proxy.restore().await;
    let base = tokio::task::spawn_blocking(move || {
        let base = process.address();
        (process, base)
    })
    .await
    .expect("joined");
    let (process, base) = base;
    let ready = reqwest::get(format!("{base}/health/ready"))
        .await
        .expect("ready answers");
    assert_eq!(ready.status(), 200);
    drop(process);
}
