//! The processes under test: the release `moviedb` on a fresh data directory, and the baseline.

use crate::backing::{Broker, Database, SearchServer};
use crate::Args;
use anyhow::{bail, Context};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ADMIN: &str = "bench@example.com";
const PASSWORD: &str = "Bench_pass1";

pub(crate) fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

pub(crate) fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub(crate) fn moviedb_binary(args: &Args) -> anyhow::Result<PathBuf> {
    if !args.no_build {
        let mut build = vec!["build", "--release", "--bin", "moviedb"];
        // The embedded default has neither MySQL, Kafka nor Elasticsearch; `kafka` brings
        // `mysql` with it.
        let mut features = Vec::new();
        if args.kafka {
            features.push("kafka");
        } else if args.db != "sqlite" {
            features.push("mysql");
        }
        if args.search == "elasticsearch" {
            features.push("elasticsearch");
        }
        let features = features.join(",");
        if !features.is_empty() {
            build.extend(["--features", &features]);
        }
        let status = Command::new(env!("CARGO"))
            .args(build)
            .current_dir(workspace())
            .status()?;
        if !status.success() {
            bail!("cargo build --release --bin moviedb failed");
        }
    }
    Ok(workspace().join("target/release/moviedb"))
}

/// A child process killed when dropped.
pub(crate) struct Guard(pub(crate) Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) async fn wait_ready(client: &reqwest::Client, url: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        if let Ok(r) = client.get(url).send().await {
            if r.status().is_success() {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("{url} did not answer in time")
}

/// The release moviedb, serving every role on one port.
pub struct Moviedb {
    process: Option<Guard>,
    _broker: Option<Broker>,
    _search: Option<SearchServer>,
    pub addr: SocketAddr,
    pub(crate) client: reqwest::Client,
    data: Data,
    database: Database,
    binary: PathBuf,
    /// The environment the process runs with, for a command run beside it.
    env: Vec<(String, String)>,
}

/// Where the run's data lives: a fresh directory removed at the end, or `--data-dir`, kept
/// (with its database) for the next run to measure again without loading.
enum Data {
    Fresh(tempfile::TempDir),
    Kept(PathBuf),
}

impl Data {
    fn path(&self) -> &std::path::Path {
        match self {
            Data::Fresh(dir) => dir.path(),
            Data::Kept(path) => path,
        }
    }
}

impl Moviedb {
    pub async fn start(args: &Args) -> anyhow::Result<Self> {
        let binary = moviedb_binary(args)?;
        let database = Database::from_args(args)?;
        let data = match &args.data_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir)?;
                Data::Kept(dir.canonicalize()?)
            }
            None => {
                database.drop_database().await;
                Data::Fresh(tempfile::tempdir_in(workspace().join("target"))?)
            }
        };
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()?).parse()?;
        let broker = if args.kafka {
            if matches!(database, Database::Sqlite) {
                bail!("--kafka needs --db mariadb: SQLite has no outbox");
            }
            Some(Broker::start()?)
        } else {
            None
        };
        let search = match args.search.as_str() {
            "tantivy" => None,
            "elasticsearch" => Some(SearchServer::start()?),
            other => bail!("--search takes tantivy or elasticsearch, not {other}"),
        };
        let mut env: Vec<(String, String)> = Vec::new();
        if let Some(search) = &search {
            env.push(("MOVIEDB_ELASTICSEARCH_URL".into(), search.url.clone()));
        }
        if let Some(broker) = &broker {
            env.push(("MOVIEDB_KAFKA_BROKERS".into(), broker.address.clone()));
            env.push((
                "MOVIEDB_KAFKA_TOPIC_PREFIX".into(),
                format!("bench{}", std::process::id()),
            ));
        }
        env.push(("MOVIEDB_DATA_DIR".into(), data.path().display().to_string()));
        env.push(("MOVIEDB_DATABASE_URL".into(), database.url(data.path())));
        let child = Command::new(&binary)
            .envs(env.iter().cloned())
            .env("MOVIEDB_LISTEN", addr.to_string())
            .env("MOVIEDB_ADMIN_EMAIL", ADMIN)
            .env("MOVIEDB_ADMIN_PASSWORD", PASSWORD)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .build()?;
        let moviedb = Self {
            process: Some(Guard(child)),
            _broker: broker,
            _search: search,
            addr,
            client,
            data,
            database,
            binary,
            env,
        };
        wait_ready(&moviedb.client, &moviedb.url("/health/ready")).await?;
        Ok(moviedb)
    }

    /// The `moviedb` binary with this run's configuration: an operator's command (import)
    /// run beside the service, on its data.
    pub fn cli(&self) -> Command {
        let mut command = Command::new(&self.binary);
        command
            .envs(self.env.iter().cloned())
            .env("RUST_LOG", "warn");
        command
    }

    /// The data directory.
    pub fn data_path(&self) -> &std::path::Path {
        self.data.path()
    }

    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The process id, for a profiler.
    pub fn pid(&self) -> u32 {
        self.process.as_ref().map_or(0, |Guard(child)| child.id())
    }

    /// Resident memory of the process, in MB.
    pub fn rss_mb(&self) -> f64 {
        let Some(Guard(child)) = &self.process else {
            return f64::NAN;
        };
        rss_mb(child.id())
    }

    /// The resident size in two parts: anonymous memory (the heap, stacks) and pages of
    /// mapped files (the search index, which tantivy maps; the kernel can drop them).
    pub fn rss_parts_mb(&self) -> (f64, f64) {
        let Some(Guard(child)) = &self.process else {
            return (f64::NAN, f64::NAN);
        };
        (
            status_mb(child.id(), "RssAnon:"),
            status_mb(child.id(), "RssFile:"),
        )
    }

    /// Logs the admin in: the session's JSON.
    async fn session(&self) -> anyhow::Result<Value> {
        Ok(self
            .client
            .post(self.url("/v1/sessions"))
            .json(&json!({ "email": ADMIN, "password": PASSWORD }))
            .send()
            .await?
            .json()
            .await?)
    }

    /// A fresh admin token.
    pub async fn login(&self) -> anyhow::Result<String> {
        self.session().await?["token"]
            .as_str()
            .map(str::to_owned)
            .context("login answered without a token")
    }

    /// The admin's user id.
    pub async fn user_id(&self) -> anyhow::Result<String> {
        self.session().await?["user_id"]
            .as_str()
            .map(str::to_owned)
            .context("login answered without a user id")
    }

    /// Sets movie `id`'s poster to the JPEG `body`; the answer's body.
    pub async fn put_poster(&self, token: &str, id: &str, body: Vec<u8>) -> anyhow::Result<Value> {
        let r = self
            .client
            .put(self.url(&format!("/v1/movies/{id}/poster")))
            .bearer_auth(token)
            .header("content-type", "image/jpeg")
            .body(body)
            .send()
            .await?;
        let status = r.status();
        let answer: Value = r.json().await?;
        anyhow::ensure!(
            status.is_success(),
            "a poster upload answered {status}: {answer}"
        );
        Ok(answer)
    }

    pub async fn post(&self, token: &str, path: &str, body: &Value) -> anyhow::Result<Value> {
        let r = self
            .client
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await?;
        Ok(r.json().await?)
    }

    /// Adds `movies` movies of `kind` in bulks of 1 000, waits until the list and the search
    /// show them all, and returns their ids in the order sent. A kept data directory that
    /// already holds them (its `bench-ids` file) is not loaded again.
    pub async fn load(
        &self,
        token: &str,
        movies: u64,
        kind: crate::catalogue::Kind,
    ) -> anyhow::Result<Vec<String>> {
        let ids_file = self.data.path().join("bench-ids");
        if let (Data::Kept(_), Ok(text)) = (&self.data, std::fs::read_to_string(&ids_file)) {
            let ids: Vec<String> = text.lines().map(str::to_owned).collect();
            if ids.len() as u64 == movies {
                eprintln!("{} already holds the catalogue", self.data.path().display());
                return Ok(ids);
            }
            bail!(
                "{} holds {} movies of an earlier run, not {movies}: give another --data-dir",
                self.data.path().display(),
                ids.len()
            );
        }
        let ids = self.add_all(token, movies, kind).await?;
        if let Data::Kept(_) = self.data {
            std::fs::write(&ids_file, ids.join("\n"))?;
        }
        Ok(ids)
    }

    async fn add_all(
        &self,
        token: &str,
        movies: u64,
        kind: crate::catalogue::Kind,
    ) -> anyhow::Result<Vec<String>> {
        let mut n = 0;
        let mut ids = Vec::with_capacity(movies as usize);
        while n < movies {
            let batch: Vec<Value> = (n..movies.min(n + 1000)).map(|i| kind.movie(i)).collect();
            n += batch.len() as u64;
            let answer = self.post(token, "/v1/movies", &Value::Array(batch)).await?;
            let results = answer["results"].as_array().cloned().unwrap_or_default();
            for result in &results {
                let Some(id) = result["id"].as_str() else {
                    bail!("a movie of the load was refused: {result}");
                };
                ids.push(id.to_owned());
            }
        }
        // The read models first, then the search index, which follows them.
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let total = self.total().await?;
            let searchable = self
                .get_json("/v1/movies/search?per_page=1&total=exact")
                .await?;
            if total >= movies && searchable["total"].as_u64() >= Some(movies) {
                return Ok(ids);
            }
            if Instant::now() > deadline {
                bail!("the list never reached {movies} movies: {total}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A GET answered with JSON.
    pub(crate) async fn get_json(&self, path: &str) -> anyhow::Result<Value> {
        Ok(self.client.get(self.url(path)).send().await?.json().await?)
    }

    /// How many movies the list has.
    pub async fn total(&self) -> anyhow::Result<u64> {
        let page = self.get_json("/v1/movies?per_page=1").await?;
        Ok(page["total"].as_u64().unwrap_or(0))
    }

    /// The durable-commit limit for `clients` writers on this run's database.
    pub async fn write_limit(&self, clients: usize, secs: Duration) -> anyhow::Result<Option<f64>> {
        match &self.database {
            Database::Sqlite => Ok(Some(
                crate::limits::sqlite_commits(self.data.path(), clients, secs).await?,
            )),
            Database::MariaDb { .. } => {
                let name = format!("moviedb_bench_limit_{}", std::process::id());
                let pool = sqlx::MySqlPool::connect("mysql://root@127.0.0.1:3306").await?;
                sqlx::query(&format!("CREATE DATABASE IF NOT EXISTS {name}"))
                    .execute(&pool)
                    .await?;
                let rate = crate::limits::sysbench_inserts(&name, clients, secs.as_secs());
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
                    .execute(&pool)
                    .await?;
                Ok(rate)
            }
        }
    }
}

impl Drop for Moviedb {
    fn drop(&mut self) {
        self.process.take();
        if let Data::Kept(_) = self.data {
            return;
        }
        let database = self.database.clone();
        // Best effort: the runtime is still alive while the harness drops this.
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let _ = std::thread::spawn(move || handle.block_on(database.drop_database())).join();
        }
    }
}

/// Resident memory of a process, in MB.
pub fn rss_mb(pid: u32) -> f64 {
    status_mb(pid, "VmRSS:")
}

/// One of the sizes in `/proc/{pid}/status` (`VmRSS:`, `RssAnon:`, `RssFile:`), in MB.
fn status_mb(pid: u32, key: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}
