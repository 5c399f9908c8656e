//! The MySQL outbox: events waiting to be published, read in position order, deleted only
//! after the broker acknowledged them. One relay per database holds a named lock.

use crate::mysql::decode_event;
use crate::row::EVENT_COLUMNS;
use crate::{StoreError, StoredEvent};
use sqlx::mysql::MySqlPool;
use sqlx::{MySqlConnection, Row};

/// The name of the lock the active relay holds, followed by the database name: MySQL locks
/// are global to the server, and each database has its own outbox.
pub const RELAY_LOCK: &str = "moviedb-outbox-relay:";

/// Pending outbox rows of a MySQL event store.
#[derive(Clone)]
pub struct MySqlOutbox {
    pool: MySqlPool,
}

/// Held by the one active relay; released when dropped (the connection closes) or when its
/// connection is lost.
pub struct RelayLock {
    connection: MySqlConnection,
}

impl MySqlOutbox {
    /// The outbox in the database of `pool`.
    pub fn new(pool: MySqlPool) -> Self {
        Self { pool }
    }

    /// Takes the relay lock if no other relay holds it.
    pub async fn try_lock(&self) -> Result<Option<RelayLock>, StoreError> {
        let mut connection = self.pool.acquire().await?;
        let got: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK(CONCAT(?, DATABASE()), 0)")
            .bind(RELAY_LOCK)
            .fetch_one(&mut *connection)
            .await?;
        if got == Some(1) {
            // This connection must never go back to the pool holding the lock: detached, it
            // closes (and MySQL releases the lock) when the relay drops it.
            Ok(Some(RelayLock {
                connection: connection.detach(),
            }))
        } else {
            Ok(None)
        }
    }

    /// Up to `limit` pending events, by position. Events of one stream are in version order,
    /// since a stream's next event can only be appended after the previous one committed.
    pub async fn pending(&self, limit: u32) -> Result<Vec<StoredEvent>, StoreError> {
        let positions: Vec<i64> =
            sqlx::query_scalar("SELECT position FROM outbox ORDER BY position LIMIT ?")
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
        if positions.is_empty() {
            return Ok(Vec::new());
        }
        let marks = vec!["?"; positions.len()].join(", ");
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE position IN ({marks}) ORDER BY position"
        );
        let mut query = sqlx::query(&sql);
        for position in &positions {
            query = query.bind(position);
        }
        query
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(decode_event)
            .collect()
    }

    /// Deletes the rows of published events.
    pub async fn remove(&self, positions: &[i64]) -> Result<(), StoreError> {
        for chunk in positions.chunks(500) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let sql = format!("DELETE FROM outbox WHERE position IN ({marks})");
            let mut query = sqlx::query(&sql);
            for position in chunk {
                query = query.bind(position);
            }
            query.execute(&self.pool).await?;
        }
        Ok(())
    }

    /// How long the oldest event waiting to be published has waited (`None`: none waits).
    pub async fn oldest_pending_age(&self) -> Result<Option<std::time::Duration>, StoreError> {
        let waited: Option<i64> = sqlx::query_scalar(
            "SELECT TIMESTAMPDIFF(MICROSECOND, MIN(created_at), UTC_TIMESTAMP(6)) FROM outbox",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(waited.map(|us| std::time::Duration::from_micros(u64::try_from(us).unwrap_or(0))))
    }

    /// How many events wait to be published.
    pub async fn pending_count(&self) -> Result<u64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) FROM outbox")
            .fetch_one(&self.pool)
            .await?;
        let n: i64 = row.try_get(0)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// The gauges of `/metrics`: the backlog and how long its oldest event has waited (a
    /// relay that stopped shows there).
    pub async fn gauges(&self) -> Result<[crate::GaugeValue; 2], StoreError> {
        let pending = self.pending_count().await?;
        let waited = self.oldest_pending_age().await?.unwrap_or_default();
        Ok([
            (
                "moviedb_outbox_pending",
                "Events stored but not yet relayed.",
                pending as f64,
            ),
            (
                "moviedb_outbox_oldest_pending_age_seconds",
                "How long the oldest event not yet relayed has waited (alert when above 30).",
                waited.as_secs_f64(),
            ),
        ])
    }
}

impl RelayLock {
    /// Whether this relay still holds the lock (its connection may have been lost).
    pub async fn held(&mut self) -> bool {
        let held: Result<Option<i64>, _> =
            sqlx::query_scalar("SELECT IS_USED_LOCK(CONCAT(?, DATABASE())) = CONNECTION_ID()")
                .bind(RELAY_LOCK)
                .fetch_one(&mut self.connection)
                .await;
        matches!(held, Ok(Some(1)))
    }
}
