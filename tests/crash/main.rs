//! Crash-point proof for the embedded service (finding 7 of the hardening issue): the real
//! `moviedb` process is killed with SIGKILL at points spread over a run of writes (bulk adds,
//! edits and deletes, so the projector and the indexer are mid-batch when it dies), and once
//! in the middle of a `moviedb rebuild` in another process. After the last restart the read
//! models and the search index must equal a clean replay of the event store: every event
//! applied exactly once in effect, nothing acknowledged lost.
//!
//! On SQLite (the embedded feed), and on MariaDB with the outbox relayed through the broker
//! tansu and consumed back (kills between a publish and its outbox delete, and between a
//! read-model commit and the Kafka offset commit).
//!
//! CI runs a shortened variant (6 kills, about 6 000 events). The full run:
//! `MOVIEDB_CRASH_POINTS=20 MOVIEDB_CRASH_EVENTS=20000 cargo test --release --all-features --test crash -- --nocapture`

#[cfg(feature = "kafka")]
use moviedb_test_support::broker;
mod load;
use load::*;
use moviedb_test_support::process;
mod replay;
use replay::*;

use moviedb_read_model::{ReadModelWriter, SqlReadModels};
use moviedb_search::{SearchIndex, SearchRequest, SearchSort, TantivyIndex};
use process::Process;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const ADMIN_PASSWORD: &str = "Boot_strap9";

/// Where the service keeps its events and read models.
enum Backend {
    Sqlite,
    /// MariaDB (one database for events and read models) and a Kafka broker.
    #[allow(dead_code)]
    Kafka {
        database: String,
        brokers: String,
        /// The broker's stderr, shown when the run fails.
        broker_logs: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    },
}

impl Backend {
    fn env(&self) -> Vec<(&'static str, String)> {
        match self {
            Backend::Sqlite => Vec::new(),
            Backend::Kafka {
                database, brokers, ..
            } => vec![
                ("MOVIEDB_DATABASE_URL", database.clone()),
                ("MOVIEDB_KAFKA_BROKERS", brokers.clone()),
                (
                    "MOVIEDB_KAFKA_TOPIC_PREFIX",
                    format!("crash{}", std::process::id()),
                ),
                ("MOVIEDB_KAFKA_PARTITIONS", "3".into()),
            ],
        }
    }

    fn events_url(&self, dir: &Path) -> String {
        match self {
            Backend::Sqlite => format!("sqlite://{}", dir.join("moviedb.db").display()),
            Backend::Kafka { database, .. } => database.clone(),
        }
    }

    fn read_url(&self, dir: &Path) -> String {
        match self {
            Backend::Sqlite => format!("sqlite://{}", dir.join("read-models.db").display()),
            Backend::Kafka { database, .. } => database.clone(),
        }
    }
}

fn moviedb(data_dir: &Path, backend: &Backend) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_moviedb"));
    command.env_clear().envs(backend.env());
    command
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("MOVIEDB_DATA_DIR", data_dir)
        .env("MOVIEDB_LISTEN", "127.0.0.1:0")
        .env("MOVIEDB_LOG_FORMAT", "json")
        .env("MOVIEDB_ADMIN_EMAIL", "boot@example.com")
        .env("MOVIEDB_ADMIN_PASSWORD", ADMIN_PASSWORD)
        // Many logins from one test client over the run.
        .env("MOVIEDB_THROTTLE_LOGIN_PER_ACCOUNT", "1000")
        .env(
            "RUST_LOG",
            std::env::var("MOVIEDB_CRASH_RUST_LOG").unwrap_or_else(|_| "info,tantivy=warn".into()),
        );
    command
}

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_at_any_point_the_embedded_projections_equal_a_clean_replay() {
    crash_run(Backend::Sqlite, None).await;
}

/// The same on MariaDB with the outbox relayed through tansu and consumed back. A restarted
/// consumer may first be left without partitions by tansu's group coordinator (its dead
/// predecessor was the group's leader); the consumer's stall check makes it rejoin, so the
/// catch-up below also proves that.
#[cfg(feature = "kafka")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_at_any_point_the_kafka_fed_projections_equal_a_clean_replay() {
    use moviedb_event_store::test_support::MySqlTestDatabase;
    let Some(tansu) = broker::tansu() else { return };
    // In memory: the broker is never restarted here, and tansu's SQLite engine is not up to
    // clients killed twenty times (see `Broker::start_in_memory`).
    let broker = broker::Broker::start_in_memory(tansu);
    let (events, replay) = (MySqlTestDatabase::new(), MySqlTestDatabase::new());
    let backend = Backend::Kafka {
        database: events.url().to_owned(),
        brokers: broker.address(),
        broker_logs: broker.logs(),
    };
    crash_run(backend, Some(replay.url())).await;
}

/// Kills the service at points spread over a run of writes, then compares its projections
/// with a replay into `replay_url` (MySQL) or a fresh directory (SQLite).
async fn crash_run(backend: Backend, replay_url: Option<&str>) {
    sqlx::any::install_default_drivers();
    let points = setting("MOVIEDB_CRASH_POINTS", 6);
    let events = setting("MOVIEDB_CRASH_EVENTS", 6000);
    let dir = tempfile::tempdir().expect("temp dir");
    let client = reqwest::Client::new();
    let started = Instant::now();
    let mut kills = 0;
    // MOVIEDB_CRASH_SEED varies where the kills land.
    let mut rng = Lcg(setting("MOVIEDB_CRASH_SEED", 7) as u64);
    let mut rebuild_killed = false;
    for point in 0..points {
        let process = Process::spawn(moviedb(dir.path(), &backend));
        let base = process.address();
        let token = login(&client, &base).await;
        // Spread the kills over the run: write until this point's share of the events.
        let target = events * (point + 1) / points;
        let writer = tokio::spawn(write_forever(
            client.clone(),
            base.clone(),
            token,
            point as u64,
        ));
        let deadline = Instant::now() + Duration::from_secs(120);
        while event_count(&backend.events_url(dir.path())).await < target
            && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(20 + rng.next(80))).await;
        }
        // Once, about halfway, a rebuild in another process is killed in the middle.
        if !rebuild_killed && point >= points / 2 {
            let mut rebuild = moviedb(dir.path(), &backend)
                .arg("rebuild")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("rebuild starts");
            tokio::time::sleep(Duration::from_millis(150 + rng.next(400))).await;
            let _ = rebuild.kill();
            let _ = rebuild.wait();
            rebuild_killed = true;
        }
        // The service dies mid-write: the projector and the indexer are mid-batch too.
        let mut process = process;
        process.child.kill().expect("SIGKILL");
        process.child.wait().expect("reaped");
        writer.abort();
        let _ = writer.await;
        kills += 1;
        // MOVIEDB_CRASH_LOG_DIR keeps each killed process's log, to study a failure.
        if let Ok(logs) = std::env::var("MOVIEDB_CRASH_LOG_DIR") {
            std::thread::sleep(Duration::from_millis(100));
            let lines = process.logs.lock().expect("logs").join("\n");
            std::fs::write(
                Path::new(&logs).join(format!("service-{point:02}.log")),
                lines,
            )
            .expect("log written");
        }
    }
    let total = event_count(&backend.events_url(dir.path())).await;
    assert!(
        total >= events,
        "the run wrote {total} events, fewer than {events}"
    );

    // Restart once more and let the projections catch up on what the store holds.
    let process = Process::spawn(moviedb(dir.path(), &backend));
    let _ = process.address();
    // A clean replay of a copy of the event store, by `moviedb rebuild` in a fresh directory.
    let replay = tempfile::tempdir().expect("temp dir");
    copy_events(&backend, dir.path(), replay.path(), replay_url).await;
    let replay_backend = match (&backend, replay_url) {
        (
            Backend::Kafka {
                brokers,
                broker_logs,
                ..
            },
            Some(url),
        ) => Backend::Kafka {
            database: url.to_owned(),
            brokers: brokers.clone(),
            broker_logs: broker_logs.clone(),
        },
        _ => Backend::Sqlite,
    };
    let rebuilt = moviedb(replay.path(), &replay_backend)
        .arg("rebuild")
        .output()
        .expect("rebuild runs");
    assert!(
        rebuilt.status.success(),
        "{}",
        String::from_utf8_lossy(&rebuilt.stderr)
    );
    let expected_read = SqlReadModels::connect(&replay_backend.read_url(replay.path()))
        .await
        .expect("replayed read models")
        .dump()
        .await
        .expect("dump");
    let expected_index = index_dump(replay.path()).await;
    assert!(
        expected_read["movies"]
            .as_array()
            .is_some_and(|m| m.len() > 100),
        "the replay has movies"
    );

    let read = SqlReadModels::connect(&backend.read_url(dir.path()))
        .await
        .expect("read models");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut same_read = false;
    let mut said = Instant::now();
    while Instant::now() < deadline {
        let dump = read.dump().await.expect("dump");
        if dump == expected_read {
            same_read = true;
            break;
        }
        if said.elapsed() > Duration::from_secs(10) {
            eprintln!(
                "catching up: {} of {} movies",
                dump["movies"].as_array().map_or(0, Vec::len),
                expected_read["movies"].as_array().map_or(0, Vec::len)
            );
            said = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    if !same_read {
        let got = read.dump().await.expect("dump");
        let summary = |dump: &Value| -> Vec<(String, usize)> {
            dump.as_object()
                .into_iter()
                .flatten()
                .map(|(table, rows)| (table.clone(), rows.as_array().map_or(0, Vec::len)))
                .collect()
        };
        let versions = |dump: &Value| -> std::collections::BTreeMap<String, Value> {
            dump["versions"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|row| (row.to_string(), row.clone()))
                .collect()
        };
        let (have, want) = (versions(&got), versions(&expected_read));
        let missing: Vec<_> = want
            .keys()
            .filter(|k| !have.contains_key(*k))
            .take(5)
            .collect();
        let extra: Vec<_> = have
            .keys()
            .filter(|k| !want.contains_key(*k))
            .take(5)
            .collect();
        let logs = process.logs.lock().expect("logs").clone();
        let notable: Vec<&String> = logs
            .iter()
            .filter(|l| !l.contains("request refused"))
            .rev()
            .take(40)
            .collect();
        eprintln!("the service's last log lines: {notable:#?}");
        keep_for_study(&logs, dir.path());
        if let Backend::Kafka {
            database,
            broker_logs,
            ..
        } = &backend
        {
            let broker_logs = broker_logs.lock().expect("logs").clone();
            let tail = &broker_logs[broker_logs.len().saturating_sub(40)..];
            eprintln!("the broker's last log lines: {tail:#?}");
            let pool = sqlx::MySqlPool::connect(database).await.expect("db");
            let outbox: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox")
                .fetch_one(&pool)
                .await
                .expect("outbox");
            eprintln!("events still in the outbox (not yet published): {outbox}");
        }
        panic!(
            "the read models never equalled the clean replay: tables {:?} vs the replay's {:?}; \
             versions missing {missing:?}, not in the replay {extra:?}",
            summary(&got),
            summary(&expected_read)
        );
    }
    // Stop it the way an operator would, so the index is read with its writer let go; the
    // indexer follows the read models within its commit interval.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut process = process;
    let pid = process.child.id().to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let stopped = process.child.wait().expect("stops");
    assert!(stopped.success(), "stops cleanly: {stopped}");
    let index = index_dump(dir.path()).await;
    if index != expected_index {
        let logs = process.logs.lock().expect("logs").clone();
        let differences = index_differences(&index, &expected_index, &logs);
        keep_for_study(&logs, dir.path());
        panic!(
            "the index differs from the replay's: {} live documents against {}; {differences}",
            index.len(),
            expected_index.len()
        );
    }
    println!(
        "crash points ({}): {kills} kills of the service and 1 of a rebuild over {total} events, \
         {} live movies, in {:.1} s",
        match backend {
            Backend::Sqlite => "SQLite",
            Backend::Kafka { .. } => "MariaDB + tansu",
        },
        index.len(),
        started.elapsed().as_secs_f64()
    );
}

/// With MOVIEDB_CRASH_LOG_DIR set, a failed run leaves there the last process's log and a
/// copy of its data directory (to open the index and the databases afterwards).
fn keep_for_study(logs: &[String], data: &Path) {
    let Ok(keep) = std::env::var("MOVIEDB_CRASH_LOG_DIR") else {
        return;
    };
    std::fs::write(Path::new(&keep).join("service-final.log"), logs.join("\n"))
        .expect("log written");
    let kept = Path::new(&keep).join("data");
    let copied = Command::new("cp").arg("-a").arg(data).arg(&kept).status();
    eprintln!("data directory copied to {} ({copied:?})", kept.display());
}
