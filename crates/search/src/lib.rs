//! Movie search: the port, and its embedded adapter on tantivy.
//!
//! The index is versioned like Elasticsearch's `version_type=external`: a document carries its
//! stream version, and a write with a version at or below the indexed one is refused as stale.
//! A delete leaves a tombstone with its version, so a late add cannot bring a movie back.

mod highlight;
mod tantivy_index;

pub use tantivy_index::TantivyIndex;

pub use moviedb_domain::movie::{GenreFilter, MovieFilter};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
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
}

impl Default for SearchRequest {
    fn default() -> Self {
        Self {
            q: None,
            filter: MovieFilter::default(),
            sort: SearchSort::Relevance,
            page: 1,
            per_page: 20,
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
    /// All hits.
    pub total: u64,
    /// Counts per genre, largest first.
    pub genres: Vec<GenreCount>,
    /// An `imdb_score` histogram with buckets of 1.
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
    /// The search backend is unreachable; retry.
    #[error("search backend unavailable: {0}")]
    Unavailable(String),
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

    /// The indexed version of each movie (also of deleted ones).
    async fn version(&self, id: Uuid) -> Result<Option<u64>, SearchError>;
}

/// The words of a text, lower case, as the index splits them.
pub(crate) fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}
