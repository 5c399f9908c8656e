//! Movie search: the port, its embedded adapter on tantivy and its Elasticsearch adapter.
//!
//! The index is versioned like Elasticsearch's `version_type=external`: a document carries its
//! stream version, and a write with a version at or below the indexed one is refused as stale.
//! A delete leaves a tombstone with its version, so a late add cannot bring a movie back (on
//! Elasticsearch too: a real delete's version is forgotten after `index.gc_deletes`).

pub mod analysis;
#[cfg(feature = "elasticsearch")]
pub mod elastic;
mod highlight;
mod tantivy_dir;
mod tantivy_index;

#[cfg(feature = "elasticsearch")]
pub use elastic::ElasticIndex;
pub use tantivy_index::TantivyIndex;

/// Which adapter to open, and where.
#[derive(Debug, Clone, Copy)]
pub enum Backend<'a> {
    /// A tantivy index in this directory.
    Tantivy(&'a std::path::Path),
    /// An Elasticsearch cluster (`url`), its index names prefixed with `index_prefix`.
    Elasticsearch {
        /// `http://host:9200`; may carry a password, so never put in an error message.
        url: &'a str,
        /// Put before the index names `movies` and `movie-events`.
        index_prefix: &'a str,
    },
}

/// Opens the index `backend` names; Elasticsearch only in builds with the `elasticsearch`
/// feature (otherwise an error that says how to get it).
pub async fn open(backend: Backend<'_>) -> Result<std::sync::Arc<dyn SearchIndex>, SearchError> {
    match backend {
        Backend::Tantivy(dir) => Ok(std::sync::Arc::new(TantivyIndex::open(dir).map_err(
            |e| {
                SearchError::Index(format!(
                    "opening the search index in {}: {e}",
                    dir.display()
                ))
            },
        )?)),
        #[cfg(feature = "elasticsearch")]
        Backend::Elasticsearch { url, index_prefix } => Ok(std::sync::Arc::new(
            ElasticIndex::connect(url, index_prefix).await?,
        )),
        #[cfg(not(feature = "elasticsearch"))]
        Backend::Elasticsearch { .. } => Err(SearchError::Index(
            "MOVIEDB_ELASTICSEARCH_URL is set, but this build has no Elasticsearch adapter: \
             build with `--features elasticsearch`"
                .into(),
        )),
    }
}

pub use moviedb_domain::movie::{GenreFilter, MovieFilter};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

/// A movie as indexed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MovieDocument {
    /// Stream id.
    pub id: Uuid,
    /// Title.
    pub name: String,
    /// Director.
    pub director: String,
    /// Genres, as written.
    pub genres: Vec<String>,
    /// 0.0 to 10.0.
    pub imdb_score: f64,
    /// 0 to 100.
    pub popularity: f64,
    /// Stream version: the external version of the document.
    pub version: u64,
    /// The poster's path (`/{hash}.jpg`), shown with a hit; not searched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poster_path: Option<String>,
}

/// One write to the index.
#[derive(Debug, Clone, PartialEq)]
pub enum IndexOp {
    /// Add or replace a movie.
    Upsert(MovieDocument),
    /// Remove a movie, at this stream version.
    Delete {
        /// The movie.
        id: Uuid,
        /// The version of the delete.
        version: u64,
    },
}

impl IndexOp {
    fn id(&self) -> Uuid {
        match self {
            IndexOp::Upsert(doc) => doc.id,
            IndexOp::Delete { id, .. } => *id,
        }
    }

    fn version(&self) -> u64 {
        match self {
            IndexOp::Upsert(doc) => doc.version,
            IndexOp::Delete { version, .. } => *version,
        }
    }
}

/// An event as analysts see it (Elasticsearch's `movie-events` index): when, who, what.
/// User events carry no payload, so no e-mail or name reaches the analytics index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventDocument {
    /// Unique id: the document id, so recording an event twice keeps one copy.
    pub event_id: Uuid,
    /// `MovieAdded`, `MovieUpdated`, `MovieDeleted`, `UserRegistered`, `RoleChanged`.
    pub event_type: String,
    /// `movie` or `user`.
    pub stream_type: String,
    /// The aggregate.
    pub stream_id: Uuid,
    /// Version within the stream.
    pub version: u64,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
    /// Who did it (`None`: anonymous, or the operator).
    pub actor_id: Option<Uuid>,
    /// `system` when the operator did it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor_kind: Option<String>,
    /// The movie's fields this event set (all of them when added; the changed ones on edit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub movie: Option<serde_json::Value>,
}

/// What a batch of writes did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IndexReport {
    /// Writes that changed the index.
    pub applied: u64,
    /// Writes at or below the indexed version (duplicates, late arrivals), refused.
    pub stale: u64,
}

/// The order of results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchSort {
    /// Best match first (the default when there is a query text).
    Relevance,
    /// IMDb score.
    ImdbScore {
        /// Largest first.
        descending: bool,
    },
    /// `99popularity`.
    Popularity {
        /// Largest first.
        descending: bool,
    },
    /// Title.
    Name {
        /// Z first.
        descending: bool,
    },
}

/// How deep a search pages: its first 10 000 hits (`page` × `per_page` at most this), on both
/// engines. It is Elasticsearch's `index.max_result_window`, beyond which it refuses a search;
/// the whole catalogue is walked through the movie list instead.
pub const MAX_RESULT_WINDOW: u32 = 10_000;

/// A search.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchRequest {
    /// Free text over name (boosted) and director: typo-tolerant, the last word a prefix.
    pub q: Option<String>,
    /// The same filters as the movie list.
    pub filter: MovieFilter,
    /// Order; ties are broken by id.
    pub sort: SearchSort,
    /// 1-based page.
    pub page: u32,
    /// Hits per page.
    pub per_page: u32,
    /// Whether to count the genres and the score histogram over every hit: asked for, as
    /// Elasticsearch's aggregations and Meilisearch's facets are. Reading two more columns
    /// of every hit was a third of a search's time when a quarter of the catalogue matched.
    pub facets: bool,
    /// How far the hits are counted: exactly up to this many, beyond which the answer says
    /// "at least this many" (`total_exact: false`), as Elasticsearch's `track_total_hits` does
    /// with a number; `None` counts every hit. Facets count every hit whatever this says.
    pub total_up_to: Option<u64>,
}

/// How far a search counts its hits unless asked for an exact total: Elasticsearch's default
/// `track_total_hits`, and the depth a search pages to ([`MAX_RESULT_WINDOW`]).
pub const TOTAL_UP_TO: u64 = 10_000;

impl SearchRequest {
    /// The bound the total is counted to, if it is not counted exactly: none when facets
    /// are asked for, since they visit every hit anyway.
    pub fn count_bound(&self) -> Option<u64> {
        if self.facets {
            None
        } else {
            self.total_up_to
        }
    }
}

impl Default for SearchRequest {
    fn default() -> Self {
        Self {
            q: None,
            filter: MovieFilter::default(),
            sort: SearchSort::Relevance,
            page: 1,
            per_page: 20,
            facets: false,
            total_up_to: Some(TOTAL_UP_TO),
        }
    }
}

/// One hit.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// The movie.
    pub movie: MovieDocument,
    /// Relevance (0 without query text).
    pub score: f32,
    /// The name with matched words in `<em>`, when the query matched it.
    pub name_highlight: Option<String>,
    /// The director with matched words in `<em>`, when the query matched it.
    pub director_highlight: Option<String>,
}

impl From<MovieDocument> for moviedb_wire::Movie {
    fn from(doc: MovieDocument) -> Self {
        let fields = moviedb_domain::movie::MovieFields {
            name: doc.name,
            director: doc.director,
            genres: doc.genres,
            imdb_score: doc.imdb_score,
            popularity: doc.popularity,
        };
        let mut movie = Self::new(doc.id, fields, doc.version);
        movie.poster_path = doc.poster_path;
        movie
    }
}

impl From<Hit> for moviedb_wire::SearchHit {
    fn from(hit: Hit) -> Self {
        Self {
            movie: hit.movie.into(),
            score: hit.score,
            highlight: moviedb_wire::Highlight {
                name: hit.name_highlight,
                director: hit.director_highlight,
            },
        }
    }
}

/// How many hits have a genre.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GenreCount {
    /// The genre, lower case.
    pub genre: String,
    /// Hits with it.
    pub count: u64,
}

/// Hits with an IMDb score in `[from, from + 1)` (the last bucket includes 10).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoreBucket {
    /// Lower bound.
    pub from: f64,
    /// Hits in it.
    pub count: u64,
}

/// A page of hits, the total, and facets over every hit (not only the page).
#[derive(Debug, Clone, PartialEq)]
pub struct SearchResponse {
    /// This page.
    pub hits: Vec<Hit>,
    /// The hits, counted exactly up to the request's [`SearchRequest::count_bound`].
    pub total: u64,
    /// Whether `total` is every hit (`true`) or the bound, with more hits beyond it.
    pub total_exact: bool,
    /// Counts per genre, largest first (empty unless the request asked for facets).
    pub genres: Vec<GenreCount>,
    /// An `imdb_score` histogram with buckets of 1 (empty unless the request asked for facets).
    pub imdb_score_histogram: Vec<ScoreBucket>,
}

/// A name for autocomplete.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suggestion {
    /// The movie.
    pub id: Uuid,
    /// Its name.
    pub name: String,
}

/// What the index can fail with.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The index cannot be read or written.
    #[error("search index: {0}")]
    Index(String),
    /// The search backend is unreachable or busy, or answered only in part; retry.
    #[error("search backend unavailable: {0}")]
    Unavailable(String),
}

impl SearchError {
    /// Whether retrying may help.
    pub fn is_transient(&self) -> bool {
        matches!(self, SearchError::Unavailable(_))
    }
}

/// The search port. Every adapter passes the conformance suite in `tests/search`.
#[async_trait]
pub trait SearchIndex: Send + Sync + 'static {
    /// Applies writes in order; each is kept only if its version is above the indexed one.
    async fn apply(&self, ops: Vec<IndexOp>) -> Result<IndexReport, SearchError>;

    /// Searches live movies.
    async fn search(&self, request: &SearchRequest) -> Result<SearchResponse, SearchError>;

    /// Names that start with `prefix` (word by word), most popular first.
    async fn suggest(&self, prefix: &str, limit: usize) -> Result<Vec<Suggestion>, SearchError>;

    /// The indexed version of each movie (also of deleted ones); absent ids are not indexed.
    async fn versions(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, u64>, SearchError>;

    /// Makes every write acknowledged so far visible to the next search (a reader in another
    /// process may otherwise lag behind a commit).
    async fn refresh(&self) -> Result<(), SearchError>;

    /// Whether [`SearchIndex::record`] keeps anything: the tantivy adapter has no analytics
    /// store (Kibana reads Elasticsearch), so the projector need not build the documents.
    fn records_events(&self) -> bool {
        true
    }

    /// Records events for analysts, idempotently by event id (a no-op where
    /// [`SearchIndex::records_events`] is false).
    async fn record(&self, events: &[EventDocument]) -> Result<(), SearchError>;

    /// Starts a rebuild: a new, empty index that readers do not see yet.
    async fn begin_rebuild(&self) -> Result<Arc<dyn SearchIndex>, SearchError>;

    /// Swaps the index from [`SearchIndex::begin_rebuild`] in for readers and writers, and
    /// drops the old one.
    async fn finish_rebuild(&self) -> Result<(), SearchError>;

    /// Whether the backend answers.
    async fn ping(&self) -> Result<(), SearchError>;
}

pub(crate) use analysis::words;
