//! The limits moviedb's writes are measured against, taken on the same disk in the same run,
//! and the event generator for the rebuild figure.

use moviedb_domain::movie::{Movie, MovieCommand, MoviePatch};
use moviedb_domain::{Actor, Aggregate};
use moviedb_event_store::{AppendRequest, EventStore, Metadata, NewEvent, UniqueKey};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ROW: &str = "{\"name\":\"The silent river 12345\",\"director\":\"Akira Kurosawa\",\
                   \"genre\":[\"Drama\",\"War\"],\"imdb_score\":8.1,\"99popularity\":77.0}";

/// Durable single-row commits per second: SQLite in WAL mode with `synchronous=FULL`, one
/// connection in one process (SQLite has one writer at a time), `clients` threads taking turns
/// on it, each commit its own transaction: the disk's sync rate through SQLite, with no async
/// driver in between.
pub async fn sqlite_commits(dir: &Path, clients: usize, duration: Duration) -> anyhow::Result<f64> {
    let path = dir.join(format!("limit-{clients}.db"));
    let conn = rusqlite::Connection::open(&path)?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
         CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL);",
    )?;
    let conn = Arc::new(std::sync::Mutex::new(conn));
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let (conn, done, stop) = (conn.clone(), done.clone(), stop.clone());
            std::thread::spawn(move || -> anyhow::Result<()> {
                while !stop.load(Ordering::Relaxed) {
                    let mut conn = conn.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
                    let tx = conn.transaction()?;
                    tx.execute("INSERT INTO t (body) VALUES (?)", [ROW])?;
                    tx.commit()?;
                    done.fetch_add(1, Ordering::Relaxed);
                }
                Ok(())
            })
        })
        .collect();
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    for thread in threads {
        thread
            .join()
            .map_err(|_| anyhow::anyhow!("a commit thread panicked"))??;
    }
    let rate = done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64();
    drop(conn);
    let _ = std::fs::remove_file(&path);
    Ok(rate)
}

/// Single-row insert transactions per second on MariaDB with `threads` clients:
/// `sysbench oltp_insert` when sysbench is installed, else `None`.
pub fn sysbench_inserts(database: &str, threads: usize, seconds: u64) -> Option<f64> {
    let common = [
        "--db-driver=mysql".to_owned(),
        "--mysql-host=127.0.0.1".to_owned(),
        "--mysql-port=3306".to_owned(),
        "--mysql-user=root".to_owned(),
        format!("--mysql-db={database}"),
        "--tables=1".to_owned(),
        "--table-size=10000".to_owned(),
    ];
    let run = |args: &[String]| {
        std::process::Command::new("sysbench")
            .arg("oltp_insert")
            .args(common.iter().chain(args))
            .output()
            .ok()
            .filter(|o| o.status.success())
    };
    run(&["cleanup".to_owned()]);
    run(&["prepare".to_owned()])?;
    let out = run(&[
        format!("--threads={threads}"),
        format!("--time={seconds}"),
        "run".to_owned(),
    ])?;
    run(&["cleanup".to_owned()]);
    let text = String::from_utf8_lossy(&out.stdout);
    // "    transactions:                        12345  (2469.00 per sec.)"
    text.lines()
        .find(|l| l.trim_start().starts_with("transactions:"))
        .and_then(|l| l.split('(').nth(1))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// Appends `events` real movie events through the event store port: movies added, then
/// edited, `per_movie` events each, `writers` appends at a time. Returns how many were written.
pub async fn fill_events(
    store: Arc<dyn EventStore>,
    events: u64,
    per_movie: u64,
    writers: usize,
    progress: impl Fn(u64) + Send + Sync + 'static,
) -> anyhow::Result<u64> {
    let movies = events.div_ceil(per_movie);
    let next = Arc::new(AtomicU64::new(0));
    let written = Arc::new(AtomicU64::new(0));
    let progress = Arc::new(progress);
    let mut tasks = Vec::new();
    for _ in 0..writers {
        let (store, next, written, progress) = (
            store.clone(),
            next.clone(),
            written.clone(),
            progress.clone(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= movies {
                    return anyhow::Ok(());
                }
                let request = movie_stream(n, per_movie)?;
                let count = request.events.len() as u64;
                store.append(request).await?;
                progress(written.fetch_add(count, Ordering::Relaxed) + count);
            }
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(written.load(Ordering::Relaxed))
}

/// The `n`-th generated movie's whole stream, decided by the domain: added, then edited.
fn movie_stream(n: u64, events: u64) -> anyhow::Result<AppendRequest> {
    let fields = crate::catalogue::fields(n, "r");
    let key = fields.title_key();
    let mut movie = Movie::default();
    let mut decided = Vec::new();
    for i in 0..events {
        let command = if i == 0 {
            MovieCommand::Add {
                fields: fields.clone(),
                actor: Actor::System,
            }
        } else {
            MovieCommand::Update {
                patch: MoviePatch {
                    imdb_score: Some(((n + i) % 101) as f64 / 10.0),
                    ..MoviePatch::default()
                },
                actor: Actor::System,
            }
        };
        for event in movie.decide(&command)? {
            movie = movie.evolve(&event);
            decided.push(event);
        }
    }
    let metadata = Metadata {
        actor_kind: Some("system".into()),
        ..Metadata::default()
    };
    let events = decided
        .iter()
        .map(|e| NewEvent::from_domain(e, &metadata))
        .collect();
    let mut request = AppendRequest::new("movie", uuid::Uuid::now_v7(), 0, events);
    request.reserve.push(UniqueKey::new("movie_title", key));
    Ok(request)
}
