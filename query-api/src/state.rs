//! What every query handler shares.

use moviedb_read_model::{EventLogHeads, ReadModels};
use moviedb_search::SearchIndex;
use moviedb_service_kit::auth::Tokens;
use moviedb_service_kit::Metrics;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Handler state: the ports, chosen by the composition root. One reference count to clone:
/// axum clones the state for every request.
#[derive(Clone)]
pub struct QueryState(Arc<QueryParts>);

impl QueryState {
    /// The state of the query handlers.
    pub fn new(parts: QueryParts) -> Self {
        Self(Arc::new(parts))
    }
}

impl std::ops::Deref for QueryState {
    type Target = QueryParts;

    fn deref(&self) -> &QueryParts {
        &self.0
    }
}

/// What the query handlers share.
pub struct QueryParts {
    /// The read models.
    pub read: Arc<dyn ReadModels>,
    /// How far each stream goes in the event log: an admin read waits until the users
    /// projection holds the caller's whole stream (see `consistency::authority`).
    pub log: Arc<dyn EventLogHeads>,
    /// The search index.
    pub search: Arc<dyn SearchIndex>,
    /// Checks tokens.
    pub tokens: Tokens,
    /// How long a query with a `Consistency-Token` may wait.
    pub wait: Duration,
    /// Ticks when an in-process projector applied a batch; `None` when it runs elsewhere.
    pub progress: Option<watch::Receiver<u64>>,
    /// The projector of this process (the embedded default); `None` when it runs elsewhere.
    pub local: Option<Arc<dyn LocalProjector>>,
    /// What `/metrics` reports; in one process with the command side, the same as its.
    pub metrics: Metrics,
    /// Where the posters' images are.
    pub images: moviedb_images::ImageStore,
    /// Where clients fetch images from (`MOVIEDB_IMAGES_BASE_URL`); `None`: `/images/` here.
    pub images_base_url: Option<String>,
}

/// What the query side asks of a projector running in the same process: how far its search
/// index writes got (a search with a `Consistency-Token` then waits on them instead of
/// polling the index), and its counters for `/metrics`. The composition root implements it:
/// the query API does not depend on the projector crate.
#[async_trait::async_trait]
pub trait LocalProjector: Send + Sync {
    /// The index job that covers everything applied so far, once there is one.
    fn index_target(&self) -> Option<u64>;
    /// Whether the index holds job `target` and everything before it.
    fn index_reached(&self, target: u64) -> bool;
    /// Sets its counters and lag on `metrics`.
    async fn report(&self, metrics: &Metrics);
}
