//! What every query handler shares.

use moviedb_event_store::EventStore;
use moviedb_http::auth::Tokens;
use moviedb_projector::Stats;
use moviedb_read_model::ReadModels;
use moviedb_search::SearchIndex;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Handler state: the ports, chosen by the composition root.
#[derive(Clone)]
pub struct QueryState {
    /// The read models.
    pub read: Arc<dyn ReadModels>,
    /// The search index.
    pub search: Arc<dyn SearchIndex>,
    /// The event store: movie history, and the roles of callers.
    pub store: Arc<dyn EventStore>,
    /// Checks tokens.
    pub tokens: Tokens,
    /// How long a query with a `Consistency-Token` may wait.
    pub wait: Duration,
    /// Ticks when an in-process projector applied a batch; `None` when it runs elsewhere.
    pub progress: Option<watch::Receiver<u64>>,
    /// The in-process projector's counters, for `/metrics`.
    pub stats: Option<Arc<Stats>>,
}
