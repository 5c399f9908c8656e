//! The production adapter: MySQL (MariaDB on the test machines), InnoDB.
//!
//! Appends insert the events first: `UNIQUE(stream_id, version)` turns a concurrent writer into
//! a duplicate-key error, which is the conflict. InnoDB may pick a deadlock victim among
//! writers racing for the same unique key; that transaction rolled back entirely, so it is
//! retried as it was, and then either wins or sees the conflict.

use crate::row::{parse_uuid, RawEvent, EVENT_COLUMNS};
use crate::time::from_mysql;
use crate::{
    AppendError, AppendRequest, Appended, Credentials, EventStore, IdempotencyRecord, Rekeyed,
    StoreError, StoredEvent, UniqueKey,
};
use async_trait::async_trait;
use chrono::NaiveDateTime;
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions, MySqlRow};
use sqlx::Row;
use std::str::FromStr;
use std::time::Duration;
use uuid::Uuid;
use writer::GroupWriter;

mod append;
mod writer;
pub(crate) use append::is_unique_violation;
use append::{insert_idempotency, try_append};

const MAX_ATTEMPTS: u32 = 5;

/// The MySQL event store.
#[derive(Clone)]
pub struct MySqlEventStore {
    pool: MySqlPool,
    writer: GroupWriter,
}

impl MySqlEventStore {
    /// Connects to `url`, creating the database if missing, and migrates it.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, 16).await
    }

    /// As [`MySqlEventStore::connect`] with a pool of `max_connections`.
    ///
    /// Any number of processes may do this at once on an empty server (see [`crate::setup`]):
    /// the migrations run under the schema lock, one process after the other, and a server
    /// not reachable yet is tried again for up to two minutes.
    pub async fn connect_with(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let url = url.replacen("mariadb:", "mysql:", 1);
        let pool =
            crate::setup::retry_start("the event store", StoreError::is_transient, || async {
                crate::setup::ensure_database(&url).await?;
                let options =
                    MySqlConnectOptions::from_str(&url)?.timezone(Some(String::from("+00:00")));
                let pool = moviedb_sql_kit::ping_when_idle(MySqlPoolOptions::new())
                    .max_connections(max_connections)
                    // Fail fast when the database is down: the client gets a 503 with Retry-After
                    // in seconds, rather than a request that hangs.
                    .acquire_timeout(Duration::from_secs(3))
                    .connect_with(options)
                    .await?;
                let lock = crate::setup::SchemaLock::acquire(&url).await?;
                crate::migrations::mysql().await?.run(&pool).await?;
                lock.release().await?;
                Ok(pool)
            })
            .await?;
        Ok(Self {
            writer: GroupWriter::spawn(pool.clone()).await,
            pool,
        })
    }

    /// The pool, for the read models and the relay of later roles.
    pub fn pool(&self) -> &MySqlPool {
        &self.pool
    }
}

/// One append in a transaction of its own, run again when InnoDB rolled it back to break a
/// deadlock.
pub(crate) async fn append_one(
    pool: &MySqlPool,
    request: &AppendRequest,
) -> Result<Appended, AppendError> {
    use backon::Retryable;
    // A deadlock victim is retried at once, briefly: the policy's waits, from a few ms.
    let policy = moviedb_sql_kit::retry::policy()
        .with_min_delay(Duration::from_millis(5))
        .with_max_times(MAX_ATTEMPTS as usize - 1);
    (|| try_append(pool, request))
        .retry(policy)
        .sleep(tokio::time::sleep)
        .when(|e| matches!(e, AppendError::Store(StoreError::Contention(_))))
        .notify(|e, wait| {
            tracing::debug!(error = %e, wait_ms = wait.as_millis() as u64, "append rolled back by InnoDB, retrying");
        })
        .await
}

/// MariaDB's JSON is LONGTEXT in a binary collation, which the driver reports as BLOB; MySQL's
/// own JSON type decodes as text.
fn json_text(row: &MySqlRow, column: &str) -> Result<String, StoreError> {
    if let Ok(text) = row.try_get::<String, _>(column) {
        return Ok(text);
    }
    let bytes: Vec<u8> = row.try_get(column)?;
    String::from_utf8(bytes).map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
}

pub(crate) fn decode_event(row: &MySqlRow) -> Result<StoredEvent, StoreError> {
    let recorded_at: NaiveDateTime = row.try_get("recorded_at")?;
    RawEvent {
        position: row.try_get("position")?,
        event_id: row.try_get("event_id")?,
        stream_type: row.try_get("stream_type")?,
        stream_id: row.try_get("stream_id")?,
        version: row.try_get("version")?,
        event_type: row.try_get("event_type")?,
        schema_version: row.try_get::<i32, _>("schema_version")?.into(),
        payload: json_text(row, "payload")?,
        metadata: json_text(row, "metadata")?,
        recorded_at: from_mysql(recorded_at),
    }
    .into_stored()
}

#[async_trait]
impl EventStore for MySqlEventStore {
    #[tracing::instrument(skip_all, fields(stream.id = %request.stream_id, stream.expected_version = request.expected_version), err(level = "debug"))]
    async fn append(&self, request: AppendRequest) -> Result<Appended, AppendError> {
        if request.events.is_empty() {
            return Ok(Appended {
                stream_id: request.stream_id,
                version: request.expected_version,
                positions: vec![],
            });
        }
        if request.credentials.is_some() {
            return append_one(&self.pool, &request).await;
        }
        self.writer.append(request).await
    }

    async fn read_stream(&self, stream_id: Uuid) -> Result<Vec<StoredEvent>, StoreError> {
        let sql =
            format!("SELECT {EVENT_COLUMNS} FROM events WHERE stream_id = ? ORDER BY version");
        let rows = sqlx::query(&sql)
            .bind(stream_id.to_string())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(decode_event).collect()
    }

    async fn read_all(&self, after: i64, limit: u32) -> Result<Vec<StoredEvent>, StoreError> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE position > ? ORDER BY position LIMIT ?"
        );
        let rows = sqlx::query(&sql)
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(decode_event).collect()
    }

    fn outbox(&self) -> Option<crate::MySqlOutbox> {
        Some(crate::MySqlOutbox::new(self.pool.clone()))
    }

    async fn head_position(&self) -> Result<i64, StoreError> {
        let head: Option<i64> = sqlx::query_scalar("SELECT MAX(position) FROM events")
            .fetch_one(&self.pool)
            .await?;
        Ok(head.unwrap_or(0))
    }

    async fn stream_heads(&self) -> Result<Vec<(Uuid, u64)>, StoreError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT stream_id, MAX(version) FROM events GROUP BY stream_id")
                .fetch_all(&self.pool)
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
            .fetch_optional(&self.pool)
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
        let keys: Vec<Vec<u8>> = sqlx::query_scalar("SELECT `key` FROM unique_keys WHERE kind = ?")
            .bind(kind)
            .fetch_all(&self.pool)
            .await?;
        let mut done = Rekeyed::default();
        for old in keys {
            let old = String::from_utf8_lossy(&old).into_owned();
            let new = derive(&old);
            if new == old {
                continue;
            }
            let updated =
                sqlx::query("UPDATE unique_keys SET `key` = ? WHERE kind = ? AND `key` = ?")
                    .bind(&new)
                    .bind(kind)
                    .bind(&old)
                    .execute(&self.pool)
                    .await;
            match updated {
                Ok(_) => done.changed += 1,
                Err(e) if is_unique_violation(&e) => {
                    tracing::warn!(kind, key = %old, "a stored key's new form is taken: kept as it was");
                    done.clashes += 1;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(done)
    }

    async fn key_owner(&self, key: &UniqueKey) -> Result<Option<Uuid>, StoreError> {
        let owner: Option<String> =
            sqlx::query_scalar("SELECT stream_id FROM unique_keys WHERE kind = ? AND `key` = ?")
                .bind(&key.kind)
                .bind(&key.key)
                .fetch_optional(&self.pool)
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
            "SELECT request_hash, response FROM idempotency_keys WHERE scope = ? AND `key` = ?",
        )
        .bind(scope)
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            let response = json_text(&row, "response")?;
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
        let mut tx = self.pool.begin().await?;
        insert_idempotency(&mut tx, &record).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}
