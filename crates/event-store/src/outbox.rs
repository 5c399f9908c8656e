//! The MySQL outbox: events waiting to be published, read in position order, deleted only
//! after the broker acknowledged them. One relay per database holds a named lock.

use crate::mysql::decode_event;
use crate::row::EVENT_COLUMNS;
use crate::{StoreError, StoredEvent};
use moviedb_sql_kit::SqlText;
use sqlx::mysql::MySqlPool;
use sqlx::{MySqlConnection, Row};
use std::sync::LazyLock;

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
    ///
    /// One statement of one shape, so it stays prepared: reading the positions first and
    /// then the events by an `IN` list of as many marks was two round trips and, with a
    /// shape per count, a prepare and a close more for most rounds.
    pub async fn pending(&self, limit: u32) -> Result<Vec<StoredEvent>, StoreError> {
        static SQL: LazyLock<String> = LazyLock::new(|| {
            format!(
                "SELECT {} FROM events e JOIN (SELECT position FROM outbox ORDER BY position \
                 LIMIT ?) o ON o.position = e.position ORDER BY e.position",
                qualified_columns()
            )
        });
        sqlx::query(SQL.as_str())
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(decode_event)
            .collect()
    }

    /// Deletes the rows of published events, in one plain-text statement per 1 000 rows:
    /// positions are integers written in as digits, so there is nothing to prepare.
    pub async fn remove(&self, positions: &[i64]) -> Result<(), StoreError> {
        for chunk in positions.chunks(1000) {
            let mut sql = SqlText::with_capacity(40 + chunk.len() * 12);
            sql.sql("DELETE FROM outbox WHERE position IN (");
            for (i, position) in chunk.iter().enumerate() {
                if i > 0 {
                    sql.sql(",");
                }
                sql.int(*position);
            }
            sql.sql(")");
            sqlx::raw_sql(sql.as_str()).execute(&self.pool).await?;
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

    /// The backlog and how long its oldest event has waited, for `/metrics`.
    pub async fn backlog(&self) -> Result<(u64, std::time::Duration), StoreError> {
        let pending = self.pending_count().await?;
        let waited = self.oldest_pending_age().await?.unwrap_or_default();
        Ok((pending, waited))
    }
}

/// [`EVENT_COLUMNS`] of the `events` table aliased `e`.
fn qualified_columns() -> String {
    EVENT_COLUMNS
        .split(", ")
        .map(|column| format!("e.{column}"))
        .collect::<Vec<_>>()
        .join(", ")
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
