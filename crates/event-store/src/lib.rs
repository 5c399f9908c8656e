//! The event store port of moviedb and its two adapters: SQLite (embedded) and MySQL.
//!
//! Besides the `events` log, the command side keeps three tables that must change in the
//! same transaction as the events they belong to: `credentials` (password hashes, which
//! never enter the log), `unique_keys` (reservations such as e-mail addresses) and
//! `idempotency_keys` (first responses to `Idempotency-Key` requests). The MySQL adapter also
//! writes one `outbox` row per event for the Kafka relay.
//!
//! The MySQL adapter, its outbox and relay are the `mysql` feature: the embedded default
//! builds without it (sqlx's MySQL driver and the RSA and digest crates its log-in needs cost
//! about 26 of the 590 CPU-seconds of a clean build), the service binaries and the tests with
//! it.

mod error;
pub mod feed;
mod migrations;
#[cfg(feature = "mysql")]
mod mysql;
#[cfg(feature = "mysql")]
mod outbox;
#[cfg(feature = "mysql")]
pub mod relay;
mod row;
pub mod setup;
mod sqlite;
#[cfg(feature = "test-support")]
pub mod test_support;
mod time;

pub use error::{AppendError, StoreError};
#[cfg(feature = "mysql")]
pub use mysql::MySqlEventStore;
#[cfg(feature = "mysql")]
pub use outbox::{MySqlOutbox, RelayLock, RELAY_LOCK};
pub use sqlite::SqliteEventStore;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use moviedb_domain::DomainEvent;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use uuid::Uuid;

/// An event about to be appended. The store gives it a position, a version and a time.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// Unique id (UUID v7, made by the caller so retries can be recognised).
    pub event_id: Uuid,
    /// Stored name, e.g. `MovieAdded`.
    pub event_type: String,
    /// Schema version of the payload.
    pub schema_version: u32,
    /// The event's data.
    pub payload: serde_json::Value,
    /// Who and why: actor id, request id, idempotency key.
    pub metadata: serde_json::Value,
}

impl NewEvent {
    /// Wraps a domain event with its metadata.
    pub fn from_domain<E: DomainEvent>(event: &E, metadata: &Metadata) -> Self {
        Self {
            event_id: Uuid::now_v7(),
            event_type: event.event_type().to_owned(),
            schema_version: event.schema_version(),
            payload: event.payload(),
            metadata: serde_json::to_value(metadata).unwrap_or(serde_json::Value::Null),
        }
    }
}

/// The metadata every event carries.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    /// The user on whose behalf the command ran; `None` for anonymous or the operator.
    pub actor_id: Option<Uuid>,
    /// `system` when the operator acted (CLI or bootstrap).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_kind: Option<String>,
    /// The HTTP request id, to correlate with logs.
    pub request_id: Option<String>,
    /// The client's `Idempotency-Key`, when it sent one.
    pub idempotency_key: Option<String>,
}

/// An event as stored: its envelope (position, ids, stream, version, type, schema version,
/// payload, metadata, time), as the feeds and Kafka carry it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    /// Global position, set by the store. On MySQL not in commit order: never tail by it.
    pub position: i64,
    /// Unique id.
    pub event_id: Uuid,
    /// `user` or `movie`.
    pub stream_type: String,
    /// The aggregate id.
    pub stream_id: Uuid,
    /// 1, 2, ... within the stream.
    pub version: u64,
    /// Stored name.
    pub event_type: String,
    /// Schema version of the payload.
    pub schema_version: u32,
    /// The event's data.
    pub payload: serde_json::Value,
    /// Actor, request id, idempotency key.
    pub metadata: serde_json::Value,
    /// When it was appended, UTC, microseconds.
    pub recorded_at: DateTime<Utc>,
}

impl StoredEvent {
    /// Decodes the payload into a domain event, upcasting older schema versions.
    pub fn decode<E: DomainEvent>(&self) -> Result<E, StoreError> {
        E::decode(&self.event_type, self.schema_version, self.payload.clone())
            .map_err(|e| StoreError::Corrupt(format!("event {}: {e}", self.event_id)))
    }
}

/// A unique reservation: `(kind, key)` belongs to one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UniqueKey {
    /// What is unique, e.g. `email`, `movie_title`.
    pub kind: String,
    /// The normalised value (lower case).
    pub key: String,
}

impl UniqueKey {
    /// A new key.
    pub fn new(kind: impl Into<String>, key: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            key: key.into(),
        }
    }
}

/// A user's login secret, kept out of the event log.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user's stream id.
    pub user_id: Uuid,
    /// Normalised (lower-case) e-mail.
    pub email: String,
    /// PHC string of an argon2id hash.
    pub password_hash: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user_id", &self.user_id)
            .field("email", &self.email)
            .field("password_hash", &"<redacted>")
            .finish()
    }
}

/// The first response to a request made with an `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq)]
pub struct IdempotencyRecord {
    /// Whose key: the actor's user id, or `anonymous`.
    pub scope: String,
    /// The client's key.
    pub key: String,
    /// Fingerprint of the request (method, path, body), so a reused key with another request
    /// is told apart from a retry.
    pub request_hash: String,
    /// The response to replay (status, headers, body), opaque to the store.
    pub response: serde_json::Value,
}

/// Everything one append writes, all or nothing.
#[derive(Debug, Clone)]
pub struct AppendRequest {
    /// `user` or `movie`.
    pub stream_type: String,
    /// The aggregate id.
    pub stream_id: Uuid,
    /// The version the caller's decision was based on; 0 for a new stream.
    pub expected_version: u64,
    /// The events, in order; they get versions `expected_version + 1 ..`.
    pub events: Vec<NewEvent>,
    /// Keys to claim for this stream.
    pub reserve: Vec<UniqueKey>,
    /// Keys this stream gives up (a rename, a delete).
    pub release: Vec<UniqueKey>,
    /// A credentials row to insert (registration).
    pub credentials: Option<Credentials>,
    /// The response to remember for an `Idempotency-Key`.
    pub idempotency: Option<IdempotencyRecord>,
    /// Another stream that must still be at a version for the append to be written: the
    /// actor's own stream, so a decision taken on a role read earlier (and cached) is stored
    /// only if that role has not changed since. [`AppendError::GuardMoved`] otherwise.
    pub guard: Option<StreamGuard>,
}

/// A precondition on a stream other than the one appended to: it must be exactly at `version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamGuard {
    /// The guarded stream.
    pub stream_id: Uuid,
    /// The version it must still be at (its last event's).
    pub version: u64,
}

impl AppendRequest {
    /// An append of `events` to `stream_id` at `expected_version`, with nothing else.
    pub fn new(
        stream_type: impl Into<String>,
        stream_id: Uuid,
        expected_version: u64,
        events: Vec<NewEvent>,
    ) -> Self {
        Self {
            stream_type: stream_type.into(),
            stream_id,
            expected_version,
            events,
            reserve: Vec::new(),
            release: Vec::new(),
            credentials: None,
            idempotency: None,
            guard: None,
        }
    }
}

/// What an append produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// The stream appended to.
    pub stream_id: Uuid,
    /// The stream's version after the append.
    pub version: u64,
    /// The positions given to the events, in order.
    pub positions: Vec<i64>,
}

/// What [`EventStore::rekey`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rekeyed {
    /// Keys rewritten.
    pub changed: u64,
    /// Keys left as they were because their new form was taken.
    pub clashes: u64,
}

/// The event store port. Both adapters pass the same conformance suite (`tests/event_store`).
#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Appends atomically: the events, reservations, credentials, idempotency record (and on
    /// MySQL the outbox rows) all commit together, or nothing does. A wrong
    /// `expected_version` is [`AppendError::Conflict`]; an append with no events writes
    /// nothing and reports the expected version.
    async fn append(&self, request: AppendRequest) -> Result<Appended, AppendError>;

    /// The events of one stream, by version.
    async fn read_stream(&self, stream_id: Uuid) -> Result<Vec<StoredEvent>, StoreError>;

    /// Up to `limit` events with a position greater than `after`, by position.
    async fn read_all(&self, after: i64, limit: u32) -> Result<Vec<StoredEvent>, StoreError>;

    /// The highest position given so far (0 for an empty store).
    async fn head_position(&self) -> Result<i64, StoreError>;

    /// When the newest event was recorded, in microseconds since the epoch (`None`: none yet).
    async fn newest_recorded_at(&self) -> Result<Option<i64>, StoreError> {
        let head = self.head_position().await?;
        if head == 0 {
            return Ok(None);
        }
        let newest = self.read_all(head - 1, 1).await?;
        Ok(newest.first().map(|e| e.recorded_at.timestamp_micros()))
    }

    /// The current version of every stream (for checking a read model against the log).
    async fn stream_heads(&self) -> Result<Vec<(Uuid, u64)>, StoreError>;

    /// The credentials registered under a normalised e-mail.
    async fn credentials_by_email(&self, email: &str) -> Result<Option<Credentials>, StoreError>;

    /// The stream holding a unique key, if any.
    async fn key_owner(&self, key: &UniqueKey) -> Result<Option<Uuid>, StoreError>;

    /// Re-derives every stored key of `kind` with `derive` (after the rule that makes keys
    /// changed), so old and new reservations agree. A key whose new form another stream
    /// already holds is left as it was and counted in [`Rekeyed::clashes`] (two old look-alikes
    /// of one title): both streams keep their reservation, and the clash is logged.
    async fn rekey(
        &self,
        kind: &str,
        derive: for<'k> fn(&'k str) -> String,
    ) -> Result<Rekeyed, StoreError>;

    /// The remembered response for `(scope, key)`, if any.
    async fn idempotency_record(
        &self,
        scope: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError>;

    /// Remembers a response on its own (for requests that span several appends, such as a
    /// bulk add). [`AppendError::IdempotencyKeyUsed`] if the key is taken.
    async fn save_idempotency_record(&self, record: IdempotencyRecord) -> Result<(), AppendError>;

    /// Checks the database answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// The outbox, on stores that keep one (MySQL); the SQLite store is tailed instead.
    #[cfg(feature = "mysql")]
    fn outbox(&self) -> Option<MySqlOutbox> {
        None
    }
}

/// Opens the store a database URL names (`sqlite://...` or `mysql://...`), creating the
/// database if needed and applying the embedded migrations.
pub async fn connect(url: &str) -> Result<Arc<dyn EventStore>, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteEventStore::connect(url).await?))
    } else if is_mysql_url(url) {
        #[cfg(feature = "mysql")]
        return Ok(Arc::new(MySqlEventStore::connect(url).await?));
        #[cfg(not(feature = "mysql"))]
        return Err(StoreError::Config(NO_MYSQL.into()));
    } else {
        Err(StoreError::Config(format!(
            "unsupported database URL scheme `{}`: use sqlite:// or mysql://",
            url_scheme(url)
        )))
    }
}

/// Whether `url` names a MySQL (or MariaDB) database.
pub fn is_mysql_url(url: &str) -> bool {
    url.starts_with("mysql:") || url.starts_with("mariadb:")
}

/// What a build without the `mysql` feature answers a MySQL URL.
pub const NO_MYSQL: &str = "this build of moviedb has no MySQL support: the embedded default \
     runs on SQLite (a sqlite:// URL, or none); for MySQL, build with `--features mysql` (the \
     service binaries have it)";

/// The scheme of a URL (what comes before `:`), safe to show: never the credentials.
pub fn url_scheme(url: &str) -> &str {
    url.split_once(':').map_or("", |(scheme, _)| scheme)
}

/// The embedded default (no `mysql` feature): CI runs these with `cargo test -p
/// moviedb-event-store --lib`, the only build of the crate without the feature.
#[cfg(all(test, not(feature = "mysql")))]
mod without_mysql {
    use super::*;

    #[tokio::test]
    async fn a_mysql_url_is_refused_with_what_to_build_instead() {
        for url in [
            "mysql://root@127.0.0.1:3306/moviedb",
            "mariadb://db/moviedb",
        ] {
            match connect(url).await {
                Err(StoreError::Config(message)) => assert_eq!(message, NO_MYSQL),
                Err(other) => panic!("{url}: {other}"),
                Ok(_) => panic!("{url}: a store without the MySQL adapter"),
            }
        }
    }
}
