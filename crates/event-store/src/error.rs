//! Failures of the event store, kept apart from domain rejections.

use uuid::Uuid;

/// The store could not do what was asked, for reasons outside the domain.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached now; worth retrying later (503).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The database rolled the transaction back to break a deadlock or a lock wait; the same
    /// transaction may simply be run again.
    #[error("transaction rolled back by lock contention: {0}")]
    Contention(String),
    /// A stored row does not decode; a bug or a foreign write.
    #[error("corrupt data: {0}")]
    Corrupt(String),
    /// The database URL or options are wrong.
    #[error("configuration: {0}")]
    Config(String),
    /// Any other database error.
    #[error("database error: {0}")]
    Database(String),
}

impl StoreError {
    /// Whether the same work may succeed later: the database could not be reached, or rolled
    /// the work back under contention.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Unavailable(_) | StoreError::Contention(_))
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match error {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(error.to_string()),
            sqlx::Error::Configuration(e) => StoreError::Config(e.to_string()),
            sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
                StoreError::Corrupt(error.to_string())
            }
            sqlx::Error::Database(e) if is_contention(e.as_ref()) => {
                StoreError::Contention(e.to_string())
            }
            other => StoreError::Database(other.to_string()),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(error: sqlx::migrate::MigrateError) -> Self {
        match error {
            sqlx::migrate::MigrateError::Execute(e) => e.into(),
            other => StoreError::Database(format!("migration failed: {other}")),
        }
    }
}

/// Why an append wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// The stream is not at the expected version: someone else wrote first.
    #[error("stream {stream_id} is not at version {expected_version}")]
    Conflict {
        /// The stream.
        stream_id: Uuid,
        /// What the caller expected.
        expected_version: u64,
    },
    /// A unique key is held by another stream.
    #[error("{kind} is already taken by {owner}")]
    KeyTaken {
        /// The key's kind (`email`, `movie_title`).
        kind: String,
        /// The stream that holds it.
        owner: Uuid,
    },
    /// The append's [`crate::StreamGuard`] failed: the guarded stream moved on (an actor's role
    /// may have changed), so the decision must be taken again.
    #[error("stream {stream_id} is no longer at version {version}")]
    GuardMoved {
        /// The guarded stream.
        stream_id: Uuid,
        /// The version the append was guarded on.
        version: u64,
    },
    /// The idempotency key was used by an earlier request.
    #[error("idempotency key already used")]
    IdempotencyKeyUsed,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for AppendError {
    fn from(error: sqlx::Error) -> Self {
        AppendError::Store(error.into())
    }
}

/// MySQL's ER_LOCK_DEADLOCK (1213) and ER_LOCK_WAIT_TIMEOUT (1205), SQLite's BUSY and LOCKED.
fn is_contention(error: &dyn sqlx::error::DatabaseError) -> bool {
    #[cfg(feature = "mysql")]
    if let Some(mysql) = error.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
        return matches!(mysql.number(), 1205 | 1213);
    }
    matches!(error.code().as_deref(), Some("5" | "6" | "517"))
}
