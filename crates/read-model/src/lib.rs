//! The read models of moviedb and the port they sit behind.
//!
//! Tables: `rm_movies` (with `rm_movie_genres` for genre filters), `rm_users`,
//! `rm_stream_versions` (the last version applied per stream, kept after a delete so a late
//! duplicate cannot bring a movie back), `projection_checkpoints` and `dead_letters`.
//!
//! Read models are disposable: they are rebuilt from the event store whenever their shape
//! changes, so their tables are created by the adapter (see `schema.rs`), not by migrations.
//! One adapter serves SQLite and MySQL through sqlx's `Any` driver; the SQL is written once,
//! in the dialect both share, and only the table definitions differ.

mod apply;
mod cache;
mod error;
mod fold;
mod history;
#[cfg(feature = "mysql")]
mod mysql_text;
mod query;
mod schema;
mod sql;

pub use cache::CachedReadModels;
pub use error::ReadModelError;
pub use fold::{Fold, FoldedState, FoldedStream};
pub use history::HistoryEntry;
pub use query::{GenreFilter, MovieFilter, MovieQuery, Sort, SortField, COUNT_BOUND, MAX_PER_PAGE};
pub use sql::SqlReadModels;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use moviedb_event_store::StoredEvent;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

/// The row of `projection_checkpoints` that counts rebuilds swapped in (its `position`), so
/// that every process serving the read models from memory notices one made elsewhere.
pub const REBUILDS: &str = "read-model-rebuilds";

/// The checkpoint whose position is when the newest event the read models hold was written
/// (microseconds since the epoch), kept by every batch that applies something: how stale the
/// projection is, for `/metrics`.
pub const NEWEST_APPLIED: &str = "newest-applied-event";

/// A movie as the query side serves it: the one movie wire type, which command answers and
/// search hits use too.
pub use moviedb_wire::Movie as MovieView;

/// A user as admins see them: never a password or hash (the read model has none).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct UserView {
    /// Stream id.
    pub id: Uuid,
    /// Display name.
    pub name: String,
    /// Login address.
    pub email: String,
    /// `user` or `admin`.
    pub role: String,
    /// When they registered.
    pub registered_at: DateTime<Utc>,
    /// Stream version.
    pub version: u64,
}

/// One page of a list and the size of the whole list.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The items on this page.
    pub items: Vec<T>,
    /// How many items the whole list has, or (`total_exact` false) at least how many.
    pub total: u64,
    /// Whether `total` is exact; else it is a lower bound ([`COUNT_BOUND`]).
    pub total_exact: bool,
}

/// Where a feed has got to, stored in the same transaction as the batch it follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The feed's name, e.g. `embedded`.
    pub name: String,
    /// The last position applied.
    pub position: i64,
}

/// What one `apply` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// Events that changed the read models.
    pub applied: u64,
    /// Duplicates: events at or below the version already applied.
    pub skipped: u64,
}

/// What the query side reads: the read port. Every adapter passes the conformance suite in
/// `tests/read_model`. The query API holds only this; what writes the read models is
/// [`ReadModelWriter`], which `tests/binary/seams.rs` keeps out of the query API.
#[async_trait]
pub trait ReadModels: Send + Sync + 'static {
    /// The version applied for each of `streams` that the read models know.
    async fn versions(&self, streams: &[Uuid]) -> Result<HashMap<Uuid, u64>, ReadModelError>;

    /// How many of `wanted` (a stream and a version) the read models have not reached yet:
    /// what a read with a `Consistency-Token` waits on.
    async fn behind(&self, wanted: &[(Uuid, u64)]) -> Result<usize, ReadModelError> {
        let streams: Vec<Uuid> = wanted.iter().map(|(id, _)| *id).collect();
        let versions = self.versions(&streams).await?;
        Ok(wanted
            .iter()
            .filter(|(id, version)| versions.get(id).copied().unwrap_or(0) < *version)
            .count())
    }

    /// The stored position of a feed.
    async fn checkpoint(&self, name: &str) -> Result<Option<i64>, ReadModelError>;

    /// One live movie.
    async fn movie(&self, id: Uuid) -> Result<Option<MovieView>, ReadModelError>;

    /// Live movies matching a query, one page of them.
    async fn movies(&self, query: &MovieQuery) -> Result<Page<MovieView>, ReadModelError>;

    /// Users, by registration time, one page of them.
    async fn users(&self, page: u32, per_page: u32) -> Result<Page<UserView>, ReadModelError>;

    /// A user's role as projected (`None`: no such user): the query side's admin checks.
    async fn user_role(&self, id: Uuid) -> Result<Option<moviedb_domain::Role>, ReadModelError>;

    /// Every event of a movie's stream, oldest first (deleted movies too); empty if none.
    async fn movie_history(&self, id: Uuid) -> Result<Vec<HistoryEntry>, ReadModelError>;

    /// How many events are in the dead-letter table.
    async fn dead_letter_count(&self) -> Result<u64, ReadModelError>;

    /// Checks the database answers.
    async fn ping(&self) -> Result<(), ReadModelError>;
}

/// What the projector writes (batches of events, dead letters, histories, rebuilds), beside the
/// reads it needs to do so: the write port of the read models.
#[async_trait]
pub trait ReadModelWriter: ReadModels {
    /// Applies `events` in one transaction, with `checkpoint` if given. Per stream, an event at
    /// or below the applied version is skipped; one above it by more than one is a
    /// [`ReadModelError::Gap`] and nothing of the batch is kept. Events of one stream must come
    /// in version order within the batch.
    async fn apply(
        &self,
        events: &[StoredEvent],
        checkpoint: Option<&Checkpoint>,
    ) -> Result<ApplyReport, ReadModelError>;

    /// The applied versions of the streams of one type (`movie`, `user`), deleted ones too, in
    /// id order after `after`, at most `limit` of them: for walking every stream in pages.
    async fn stream_versions(
        &self,
        stream_type: &str,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<(Uuid, u64)>, ReadModelError>;

    /// The live movies among `ids`, read at once and never from a cache (the search index
    /// follows the read models with it after each batch).
    async fn movies_by_id(&self, ids: &[Uuid]) -> Result<Vec<MovieView>, ReadModelError>;

    /// Records an event that could not be applied, and marks its version as passed so the rest
    /// of its stream can follow.
    async fn dead_letter(&self, event: &StoredEvent, error: &str) -> Result<(), ReadModelError>;

    /// The hash of every poster a movie shows: what the image sweep must keep.
    async fn poster_hashes(&self) -> Result<std::collections::HashSet<String>, ReadModelError>;

    /// The newest version each movie's history holds: what a backfill need not write again.
    async fn history_heads(&self) -> Result<HashMap<Uuid, u64>, ReadModelError>;

    /// Adds the movie events among `events` to the histories; rows already there stay.
    async fn record_history(&self, events: &[&StoredEvent]) -> Result<(), ReadModelError>;

    /// Every row of the rebuildable tables, in a stable order: for comparing two read models
    /// (a rebuild against the live one, a replay against a clean pass).
    async fn dump(&self) -> Result<Value, ReadModelError>;

    /// Writes `streams` (folded in memory by [`Fold`]) into empty tables, in bulk: a rebuild's
    /// fast path into the shadow tables of [`ReadModelWriter::begin_rebuild`].
    async fn load(&self, streams: &[FoldedStream]) -> Result<(), ReadModelError>;

    /// Fresh, empty shadow tables beside the live ones, to rebuild into.
    async fn begin_rebuild(&self) -> Result<Arc<dyn ReadModelWriter>, ReadModelError>;

    /// Swaps the shadow tables in for the live ones, atomically; readers never see a gap.
    async fn finish_rebuild(&self) -> Result<(), ReadModelError>;
}

/// How far a stream goes in the event log: what the query side checks a user's role against
/// before it trusts the users projection for an admin read (fail closed: a projection that
/// has not applied the user's newest event, a demotion say, is not trusted).
#[async_trait]
pub trait EventLogHeads: Send + Sync {
    /// The version of the newest event of `stream` in the event log (`None`: no such stream).
    async fn head(&self, stream: Uuid) -> Result<Option<u64>, ReadModelError>;
}

/// As [`connect_existing`], and the event log's heads read through the same connections: the
/// read database must then be the event store's database or a replica of it (the `events`
/// table is read, never written).
pub async fn connect_existing_with_log(
    url: &str,
) -> Result<(Arc<dyn ReadModels>, Arc<dyn EventLogHeads>), ReadModelError> {
    let models = Arc::new(SqlReadModels::connect_existing(url).await?);
    Ok((models.clone(), models))
}

/// Opens the read models a database URL names (`sqlite://...`, or `mysql://...` with the
/// `mysql` feature), creating the database and the tables if needed.
pub async fn connect(url: &str) -> Result<Arc<dyn ReadModelWriter>, ReadModelError> {
    Ok(Arc::new(SqlReadModels::connect(url).await?))
}

/// Opens read models another process makes (the projector) and this one only reads, as the
/// query API does: no database or table is created, so the URL may name a read-only replica
/// and a user that may only `SELECT`. Until the tables exist, a start waits (as for a server
/// that does not answer yet).
pub async fn connect_existing(url: &str) -> Result<Arc<dyn ReadModels>, ReadModelError> {
    Ok(Arc::new(SqlReadModels::connect_existing(url).await?))
}
