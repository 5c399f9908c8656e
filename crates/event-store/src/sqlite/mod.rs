//! The embedded adapter: one SQLite file, WAL mode, one writer connection.
//!
//! SQLite serialises writers anyway; one writer connection, owned by one thread that commits
//! concurrent appends together (see `writer`), makes that explicit and avoids
//! `SQLITE_BUSY` between pooled connections. Pages of the log (the feed, a rebuild) are read
//! through rusqlite (see `reader`), other reads through a pool of read-only connections.

mod reader;
mod writer;

use crate::row::{parse_uuid, RawEvent, EVENT_COLUMNS};
use crate::time::from_sqlite_text;
use crate::{
    AppendError, AppendRequest, Appended, Credentials, EventStore, IdempotencyRecord, Rekeyed,
    StoreError, StoredEvent, UniqueKey,
};
use async_trait::async_trait;
use reader::LogReader;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::Row;
use std::str::FromStr;
use std::time::Duration;
use uuid::Uuid;
use writer::Writer;

/// The SQLite event store.
#[derive(Clone)]
pub struct SqliteEventStore {
    writer: Writer,
    /// Pages of the log (`read_all`), read through rusqlite.
    log: LogReader,
    readers: SqlitePool,
    /// For maintenance writes outside the writer thread ([`EventStore::rekey`]).
    options: SqliteConnectOptions,
}

impl SqliteEventStore {
    /// Opens (creating if missing) the database at `url` and migrates it.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: an acknowledged write survives a power cut, not only a process crash.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let migrations = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.clone())
            .await?;
        crate::migrations::sqlite().await?.run(&migrations).await?;
        migrations.close().await;
        let writer = Writer::open(options.get_filename())?;
        let log = LogReader::new(options.get_filename());
        let readers = moviedb_sql_kit::ping_when_idle(SqlitePoolOptions::new())
            .max_connections(4)
            // 512 KiB of pages each rather than SQLite's 2 MiB: these serve small lookups (a
            // stream, a key, credentials), and a page not kept is in the operating system's
            // cache.
            .connect_with(options.clone().read_only(true).pragma("cache_size", "-512"))
            .await?;
        Ok(Self {
            writer,
            log,
            readers,
            options,
        })
    }
}

fn decode_event(row: &SqliteRow) -> Result<StoredEvent, StoreError> {
    let recorded_at: String = row.try_get("recorded_at")?;
    RawEvent {
        position: row.try_get("position")?,
        event_id: row.try_get("event_id")?,
        stream_type: row.try_get("stream_type")?,
        stream_id: row.try_get("stream_id")?,
        version: row.try_get("version")?,
        event_type: row.try_get("event_type")?,
        schema_version: row.try_get("schema_version")?,
        payload: row.try_get("payload")?,
        metadata: row.try_get("metadata")?,
        recorded_at: from_sqlite_text(&recorded_at)?,
    }
    .into_stored()
}

#[async_trait]
impl EventStore for SqliteEventStore {
    #[tracing::instrument(skip_all, fields(stream.id = %request.stream_id, stream.expected_version = request.expected_version), err(level = "debug"))]
    async fn append(&self, request: AppendRequest) -> Result<Appended, AppendError> {
        if request.events.is_empty() {
            return Ok(Appended {
                stream_id: request.stream_id,
                version: request.expected_version,
                positions: vec![],
            });
        }
        self.writer.append(request).await
    }

    async fn read_stream(&self, stream_id: Uuid) -> Result<Vec<StoredEvent>, StoreError> {
        let sql =
            format!("SELECT {EVENT_COLUMNS} FROM events WHERE stream_id = ? ORDER BY version");
        let rows = sqlx::query(&sql)
            .bind(stream_id.to_string())
            .fetch_all(&self.readers)
            .await?;
        rows.iter().map(decode_event).collect()
    }

    async fn read_all(&self, after: i64, limit: u32) -> Result<Vec<StoredEvent>, StoreError> {
        self.log.read_all(after, limit).await
    }

    async fn head_position(&self) -> Result<i64, StoreError> {
        let head: Option<i64> = sqlx::query_scalar("SELECT MAX(position) FROM events")
            .fetch_one(&self.readers)
            .await?;
        Ok(head.unwrap_or(0))
    }

    async fn stream_heads(&self) -> Result<Vec<(Uuid, u64)>, StoreError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT stream_id, MAX(version) FROM events GROUP BY stream_id")
                .fetch_all(&self.readers)
                .await?;
        rows.into_iter()
            .map(|(id, version)| {
                Ok((
                    parse_uuid("events.stream_id", &id)?,
                    u64::try_from(version).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                ))
            })
            .collect()
    }

    async fn credentials_by_email(&self, email: &str) -> Result<Option<Credentials>, StoreError> {
        let row = sqlx::query("SELECT user_id, password_hash FROM credentials WHERE email = ?")
            .bind(email)
            .fetch_optional(&self.readers)
            .await?;
        row.map(|row| {
            let user_id: String = row.try_get("user_id")?;
            Ok(Credentials {
                user_id: parse_uuid("credentials.user_id", &user_id)?,
                email: email.to_owned(),
                password_hash: row.try_get("password_hash")?,
            })
        })
        .transpose()
    }

    async fn rekey(
        &self,
        kind: &str,
        derive: for<'k> fn(&'k str) -> String,
    ) -> Result<Rekeyed, StoreError> {
        // One connection beside the writer thread's; the busy timeout queues it behind any
        // group commit in progress.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(self.options.clone())
            .await?;
        let keys: Vec<String> = sqlx::query_scalar("SELECT key FROM unique_keys WHERE kind = ?")
            .bind(kind)
            .fetch_all(&pool)
            .await?;
        let mut done = Rekeyed::default();
        for old in keys {
            let new = derive(&old);
            if new == old {
                continue;
            }
            let updated = sqlx::query("UPDATE unique_keys SET key = ? WHERE kind = ? AND key = ?")
                .bind(&new)
                .bind(kind)
                .bind(&old)
                .execute(&pool)
                .await;
            match updated {
                Ok(_) => done.changed += 1,
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                    tracing::warn!(kind, key = %old, "a stored key's new form is taken: kept as it was");
                    done.clashes += 1;
                }
                Err(e) => return Err(e.into()),
            }
        }
        pool.close().await;
        Ok(done)
    }

    async fn key_owner(&self, key: &UniqueKey) -> Result<Option<Uuid>, StoreError> {
        let owner: Option<String> =
            sqlx::query_scalar("SELECT stream_id FROM unique_keys WHERE kind = ? AND key = ?")
                .bind(&key.kind)
                .bind(&key.key)
                .fetch_optional(&self.readers)
                .await?;
        owner
            .map(|o| parse_uuid("unique_keys.stream_id", &o))
            .transpose()
    }

    async fn idempotency_record(
        &self,
        scope: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT request_hash, response FROM idempotency_keys WHERE scope = ? AND key = ?",
        )
        .bind(scope)
        .bind(key)
        .fetch_optional(&self.readers)
        .await?;
        row.map(|row| {
            let response: String = row.try_get("response")?;
            Ok(IdempotencyRecord {
                scope: scope.to_owned(),
                key: key.to_owned(),
                request_hash: row.try_get("request_hash")?,
                response: serde_json::from_str(&response)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            })
        })
        .transpose()
    }

    async fn save_idempotency_record(&self, record: IdempotencyRecord) -> Result<(), AppendError> {
        self.writer.save_idempotency(record).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.readers).await?;
        Ok(())
    }
}
