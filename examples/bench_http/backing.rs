//! What moviedb runs on in a harness run (the database, and the broker for the Kafka variant),
//! and the rebuild figure, made on a database of its own.

use crate::server::{free_port, workspace, Guard};
use crate::Args;
use anyhow::bail;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The database moviedb runs on in this run.
#[derive(Clone)]
pub enum Database {
    Sqlite,
    MariaDb { name: String },
}

impl Database {
    pub fn from_args(args: &Args) -> anyhow::Result<Self> {
        match args.db.as_str() {
            "sqlite" => Ok(Self::Sqlite),
            "mariadb" | "mysql" => Ok(Self::MariaDb {
                name: format!("moviedb_bench_{}", std::process::id()),
            }),
            other => bail!("--db {other}: use sqlite or mariadb"),
        }
    }

    pub fn url(&self, data: &Path) -> String {
        match self {
            Self::Sqlite => format!("sqlite://{}", data.join("moviedb.db").display()),
            Self::MariaDb { name } => format!("mysql://root@127.0.0.1:3306/{name}"),
        }
    }

    pub async fn drop_database(&self) {
        if let Self::MariaDb { name } = self {
            if let Ok(pool) = sqlx::MySqlPool::connect("mysql://root@127.0.0.1:3306").await {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
                    .execute(&pool)
                    .await;
            }
        }
    }
}

/// The binary a `scripts/ensure-*` script installs (and prints).
fn ensure(script: &str) -> anyhow::Result<String> {
    let out = Command::new(workspace().join("scripts").join(script))
        .stderr(Stdio::inherit())
        .output()?;
    if !out.status.success() {
        bail!("scripts/{script} failed");
    }
    Ok(String::from_utf8(out.stdout)?.trim().to_owned())
}

/// Waits until something listens on `address`.
fn listening(address: &str, what: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(address).is_err() {
        if Instant::now() > deadline {
            bail!("{what} did not start on {address}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// The OpenSearch-compatible test server (`scripts/ensure-search-server`), in memory.
pub struct SearchServer {
    _process: Guard,
    pub url: String,
}

impl SearchServer {
    pub fn start() -> anyhow::Result<Self> {
        let binary = ensure("ensure-search-server")?;
        let address = format!("127.0.0.1:{}", free_port()?);
        let child = Command::new(binary)
            .args(["-addr", &address, "-no-stdin-watch"])
            .args(["-parent-pid", &std::process::id().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let server = Self {
            _process: Guard(child),
            url: format!("http://{address}"),
        };
        listening(&address, "the search server")?;
        Ok(server)
    }
}

/// The Kafka-compatible broker tansu, on a port of its own, keeping nothing.
pub struct Broker {
    _process: Guard,
    pub address: String,
}

impl Broker {
    pub fn start() -> anyhow::Result<Self> {
        let binary = ensure("ensure-tansu")?;
        let address = format!("127.0.0.1:{}", free_port()?);
        let url = format!("tcp://{address}");
        let child = Command::new(binary)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "memory://tansu/"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let process = Guard(child);
        listening(&address, "tansu")?;
        Ok(Self {
            _process: process,
            address,
        })
    }
}

/// `moviedb rebuild` over `args.rebuild_events` generated events: events per second.
pub async fn rebuild(args: &Args) -> anyhow::Result<(u64, Duration)> {
    let binary = workspace().join("target/release/moviedb");
    let database = Database::from_args(args)?;
    database.drop_database().await;
    let data = tempfile::tempdir_in(workspace().join("target"))?;
    let url = database.url(data.path());
    let store = moviedb_event_store::connect(&url).await?;
    eprintln!(
        "generating {} events through the event store port",
        args.rebuild_events
    );
    let started = Instant::now();
    let written = crate::limits::fill_events(store, args.rebuild_events, 20, 8, |_| {}).await?;
    eprintln!(
        "generated {written} events in {:.1} s; rebuilding",
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let status = Command::new(&binary)
        .arg("rebuild")
        .env("MOVIEDB_DATA_DIR", data.path())
        .env("MOVIEDB_DATABASE_URL", &url)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .status()?;
    let took = started.elapsed();
    database.drop_database().await;
    if !status.success() {
        bail!("moviedb rebuild failed");
    }
    Ok((written, took))
}
