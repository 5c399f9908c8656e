//! A read replica: the command API and the projector write to a MariaDB primary, the query API
//! reads its read models from a GTID replica of it (as a user that may only `SELECT`), and
//! read-your-writes still holds: a read with a `Consistency-Token` waits for the replica.
//!
//! `scripts/mariadb-replica` starts the pair, each with a port and a data directory of its
//! own. Without MariaDB's server binaries the test prints that it was skipped, unless
//! `MOVIEDB_REQUIRE_REPLICA=1` (set by `scripts/test`).

use moviedb_test_support::process;

use process::{free_port, role};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const SECRET: &str = "replica-test-secret-0123456789-abcdefgh";
const ADMIN_EMAIL: &str = "replica@example.com";
const ADMIN_PASSWORD: &str = "Repl1ca_pass";

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/mariadb-replica")
}

/// The primary and its replica, stopped when dropped.
struct Pair {
    dir: tempfile::TempDir,
    primary: u16,
    replica: u16,
}

impl Pair {
    fn start() -> Option<Self> {
        let found = ["/usr/sbin/mariadbd", "/usr/bin/mariadb-install-db"]
            .iter()
            .all(|p| Path::new(p).exists());
        if !found {
            assert!(
                std::env::var("MOVIEDB_REQUIRE_REPLICA").is_err(),
                "MOVIEDB_REQUIRE_REPLICA is set but MariaDB's server is not installed"
            );
            eprintln!("SKIPPED: no MariaDB server binaries (scripts/ensure-mariadb installs them)");
            return None;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let (primary, replica) = (free_port(), free_port());
        let started = Command::new(script())
            .arg("start")
            .arg(dir.path())
            .args([primary.to_string(), replica.to_string()])
            .status()
            .expect("the script runs");
        assert!(started.success(), "scripts/mariadb-replica start failed");
        Some(Self {
            dir,
            primary,
            replica,
        })
    }

    fn lag(&self) -> Option<u64> {
        let out = Command::new(script())
            .arg("lag")
            .arg(self.dir.path())
            .output()
            .ok()?;
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        let _ = Command::new(script())
            .arg("stop")
            .arg(self.dir.path())
            .status();
    }
}

/// 500 writes (`MOVIEDB_REPLICA_WRITES`) to the command API, each read back by token from the
/// query API, which reads the replica: never a 404, the movie as written, and the replica's lag
/// reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reads_from_a_replica_keep_read_your_writes() {
    let Some(pair) = Pair::start() else { return };
    let writes: usize = std::env::var("MOVIEDB_REPLICA_WRITES")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or(500);
    let primary = format!("mysql://root@127.0.0.1:{}/moviedb", pair.primary);
    let replica = format!("mysql://reader@127.0.0.1:{}/moviedb", pair.replica);
    let data = tempfile::tempdir().expect("temp dir");
    let env = vec![
        ("MOVIEDB_DATABASE_URL", primary.clone()),
        ("MOVIEDB_READ_DATABASE_URL", primary.clone()),
        ("MOVIEDB_JWT_SECRET", SECRET.to_owned()),
        ("MOVIEDB_ADMIN_EMAIL", ADMIN_EMAIL.to_owned()),
        ("MOVIEDB_ADMIN_PASSWORD", ADMIN_PASSWORD.to_owned()),
        ("MOVIEDB_CONSISTENCY_WAIT_MS", "5000".to_owned()),
    ];
    // The query API first: it waits for the tables the projector makes on the primary to
    // reach the replica, and never writes there (its user could not).
    let mut query_env = env.clone();
    query_env[1] = ("MOVIEDB_READ_DATABASE_URL", replica.clone());
    let query = role("query-api", &query_env, data.path());
    let command = role("command-api", &env, data.path());
    let projector = role("projector", &env, data.path());
    let (command_url, query_url) = (command.address(), query.address());
    projector.address();
    let client = reqwest::Client::new();
    let token = process::login(&client, &command_url, ADMIN_EMAIL, ADMIN_PASSWORD).await;

    let mut readable = Vec::with_capacity(writes);
    let mut lag_seen = 0u64;
    for n in 0..writes {
        let name = format!("Replicated {n}");
        let written = Instant::now();
        let response = client
            .post(format!("{command_url}/v1/movies"))
            .bearer_auth(&token)
            .json(
                &json!({ "name": name, "director": "Replica", "genre": ["Drama"],
                "imdb_score": 6.0, "99popularity": 60.0 }),
            )
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 201);
        let consistency = response
            .headers()
            .get("consistency-token")
            .and_then(|v| v.to_str().ok())
            .expect("a token")
            .to_owned();
        let id = response.json::<Value>().await.expect("json")["id"]
            .as_str()
            .expect("id")
            .to_owned();
        let read = client
            .get(format!("{query_url}/v1/movies/{id}"))
            .header("consistency-token", &consistency)
            .send()
            .await
            .expect("sent");
        assert_eq!(read.status(), 200, "write {n} read back from the replica");
        assert_eq!(
            read.json::<Value>().await.expect("json")["name"],
            name.as_str()
        );
        readable.push(written.elapsed());
        if n % 50 == 0 {
            lag_seen = lag_seen.max(pair.lag().expect("the replica replicates"));
        }
    }
    // The list on the replica has them all.
    let list = client
        .get(format!("{query_url}/v1/movies?director=Replica&per_page=1"))
        .send()
        .await
        .expect("sent")
        .json::<Value>()
        .await
        .expect("json");
    assert_eq!(list["total"], writes);
    readable.sort();
    let ms = |q: f64| readable[((readable.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;
    eprintln!(
        "{writes} writes read back from the replica by token: p50 {:.1} ms, p99 {:.1}, max {:.1}; \
         replica Seconds_Behind_Master at most {lag_seen}",
        ms(0.5),
        ms(0.99),
        ms(1.0)
    );
}
