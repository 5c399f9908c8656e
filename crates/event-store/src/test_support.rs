//! Throw-away databases for tests: each test gets its own, dropped when it ends.

use sqlx::migrate::MigrateDatabase;
use sqlx::{Connection, MySql, MySqlConnection};

/// The MySQL server tests use: `MOVIEDB_TEST_MYSQL_URL`, else MariaDB on 127.0.0.1:3306 as root.
pub fn mysql_server_url() -> String {
    std::env::var("MOVIEDB_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".to_owned())
}

/// A database made for one test; dropped (on a helper thread) when this value is dropped.
pub struct MySqlTestDatabase {
    url: String,
}

/// Whether the test server answers, asked once per test process: a TCP connection within a
/// second. Without it every MySQL test would wait out the store's start-up patience (two
/// minutes) before failing.
fn mysql_server_answers() -> Result<(), String> {
    static PROBE: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    PROBE
        .get_or_init(|| {
            let url = mysql_server_url();
            let rest = url.split_once("://").map_or(url.as_str(), |(_, rest)| rest);
            let host_port = rest.rsplit_once('@').map_or(rest, |(_, at)| at);
            let host_port = host_port.split(['/', '?']).next().unwrap_or_default();
            let address = if host_port.contains(':') {
                host_port.to_owned()
            } else {
                format!("{host_port}:3306")
            };
            let unreachable = |why: String| {
                format!(
                    "no MySQL server answers at {address} ({why}): run scripts/ensure-mariadb \
                     or set MOVIEDB_TEST_MYSQL_URL"
                )
            };
            let addresses = std::net::ToSocketAddrs::to_socket_addrs(&address)
                .map_err(|e| unreachable(e.to_string()))?;
            let mut last = String::from("no address");
            for socket in addresses {
                match std::net::TcpStream::connect_timeout(
                    &socket,
                    std::time::Duration::from_secs(1),
                ) {
                    Ok(_) => return Ok(()),
                    Err(e) => last = e.to_string(),
                }
            }
            Err(unreachable(last))
        })
        .clone()
}

impl MySqlTestDatabase {
    /// Names a fresh database on the test server. The store's `connect` creates and migrates it.
    ///
    /// # Panics
    /// If the server does not answer (see [`mysql_server_answers`]), at once, saying what to
    /// run.
    pub fn new() -> Self {
        if let Err(why) = mysql_server_answers() {
            panic!("{why}");
        }
        let name = format!("moviedb_test_{}", uuid::Uuid::now_v7().simple());
        Self {
            url: format!("{}/{name}", mysql_server_url().trim_end_matches('/')),
        }
    }

    /// The database's URL.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Default for MySqlTestDatabase {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for MySqlTestDatabase {
    fn drop(&mut self) {
        let url = self.url.clone();
        // Drop runs inside the test's runtime, which cannot be blocked on; use a thread of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(runtime) = runtime {
                runtime.block_on(drop_database(&url));
            }
        })
        .join();
        if dropped.is_err() {
            eprintln!("could not drop test database {}", self.url);
        }
    }
}

/// Drops the database behind `url`, first ending every connection still using it: the test's
/// runtime is blocked while this runs, so a transaction one of its tasks left open would
/// otherwise hold a metadata lock that `DROP DATABASE` waits on forever.
async fn drop_database(url: &str) {
    let Ok((server, name)) = crate::setup::split_database(url) else {
        return;
    };
    if let Ok(mut admin) = MySqlConnection::connect(&server).await {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT CAST(id AS SIGNED) FROM information_schema.processlist WHERE db = ?",
        )
        .bind(name)
        .fetch_all(&mut admin)
        .await
        .unwrap_or_default();
        for id in ids {
            let _ = sqlx::query(&format!("KILL CONNECTION {id}"))
                .execute(&mut admin)
                .await;
        }
    }
    let _ = MySql::drop_database(url).await;
}

/// The character set of each `(table, column)` of the database behind `url`, in the order
/// given (`None` for a column that does not exist).
pub async fn column_charsets(url: &str, columns: &[(&str, &str)]) -> Vec<Option<String>> {
    let mut conn = MySqlConnection::connect(url).await.expect("test database");
    let mut found = Vec::with_capacity(columns.len());
    for (table, column) in columns {
        let charset: Option<Option<String>> = sqlx::query_scalar(
            "SELECT CHARACTER_SET_NAME FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = ?",
        )
        .bind(table)
        .bind(column)
        .fetch_optional(&mut conn)
        .await
        .expect("information_schema");
        found.push(charset.flatten());
    }
    found
}
