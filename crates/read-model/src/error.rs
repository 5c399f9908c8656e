//! What the read models can fail with.

use uuid::Uuid;

/// A read-model failure.
#[derive(Debug, thiserror::Error)]
pub enum ReadModelError {
    /// An event arrived before the ones it follows: the stream is at `have`, the event is
    /// version `got`. The projector repairs this from the event store.
    #[error("stream {stream_id} is at version {have}; event version {got} leaves a gap")]
    Gap {
        /// The stream.
        stream_id: Uuid,
        /// The version the read model holds.
        have: u64,
        /// The version that arrived.
        got: u64,
    },
    /// An event cannot be applied: unknown type, or a state it cannot follow.
    #[error("cannot apply event {event_id}: {reason}")]
    Rejected {
        /// The event.
        event_id: Uuid,
        /// Why.
        reason: String,
    },
    /// The database cannot be reached or is busy; retry.
    #[error("read-model database unavailable: {0}")]
    Unavailable(String),
    /// A row does not hold what the schema promises.
    #[error("corrupt read-model row: {0}")]
    Corrupt(String),
    /// Bad configuration (an unsupported URL).
    #[error("{0}")]
    Config(String),
    /// Any other database error.
    #[error("read-model database error: {0}")]
    Database(String),
}

impl ReadModelError {
    /// Whether retrying the same work later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, ReadModelError::Unavailable(_))
    }
}

impl From<sqlx::Error> for ReadModelError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Tls(_) => ReadModelError::Unavailable(error.to_string()),
            sqlx::Error::Database(db) => {
                let code = db.code().unwrap_or_default();
                // SQLite busy/locked; MySQL lock wait timeout, deadlock, server gone.
                let message = db.message();
                if matches!(code.as_ref(), "5" | "6" | "517" | "40001")
                    || message.contains("database is locked")
                    || message.contains("Lock wait timeout")
                    || message.contains("Deadlock")
                {
                    ReadModelError::Unavailable(error.to_string())
                } else {
                    ReadModelError::Database(error.to_string())
                }
            }
            _ => ReadModelError::Database(error.to_string()),
        }
    }
}
