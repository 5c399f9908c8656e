//! Starting against MySQL when any number of processes start at once, in any order, maybe
//! before the server answers: the database is created if missing (`IF NOT EXISTS`, so a race
//! is harmless), schema changes run one process at a time under a MySQL named lock, and a
//! server that cannot be reached yet is tried again with backoff instead of ending the process.

use std::future::Future;
use std::time::{Duration, Instant};

#[cfg(feature = "mysql")]
mod mysql;
#[cfg(feature = "test-support")]
pub(crate) use mysql::split_database;
#[cfg(feature = "mysql")]
pub use mysql::{ensure_database, SchemaLock};

/// How long a start keeps trying a database server it cannot reach.
pub const START_PATIENCE: Duration = Duration::from_secs(120);

/// Runs `attempt` until it succeeds, or fails for a reason `transient` does not accept (a
/// database that cannot be reached, or is busy), or [`START_PATIENCE`] has passed; waits as
/// [`moviedb_sql_kit::Backoff`] says between tries, logging each.
pub async fn retry_start<T, E, F, Fut>(
    what: &str,
    transient: fn(&E) -> bool,
    mut attempt: F,
) -> Result<T, E>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let started = Instant::now();
    let mut backoff = moviedb_sql_kit::Backoff::default();
    loop {
        let wait = backoff.next_wait();
        match attempt().await {
            Err(e) if transient(&e) && started.elapsed() + wait < START_PATIENCE => {
                tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "{what}: not reachable yet");
                tokio::time::sleep(wait).await;
            }
            other => return other,
        }
    }
}
