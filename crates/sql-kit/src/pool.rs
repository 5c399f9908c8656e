//! Connection-pool settings shared by the event store and the read models.

use sqlx::pool::PoolOptions;
use sqlx::{Connection, Database};
use std::time::Duration;

/// A connection idle for longer than this is pinged before it is handed out.
pub const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// Pings a pooled connection before use only when it has been idle for a while.
///
/// sqlx pings every connection it hands out by default: one extra round trip per statement
/// run on the pool, about twenty per added movie on MySQL (half of all it sent). A connection
/// used within the last second is alive as far as anyone can tell; one idle for longer may
/// have been closed by the server (a restart, `wait_timeout`), so it is still pinged, and
/// replaced if the ping fails.
pub fn ping_when_idle<DB: Database>(options: PoolOptions<DB>) -> PoolOptions<DB> {
    options
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for > PING_AFTER_IDLE {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
}
