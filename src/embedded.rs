//! Every role in one process, on one port: the embedded default (and the operator's rebuild).
//! It composes the three service crates; each of them also runs alone (see their `run`).

use anyhow::Context;
use moviedb_command_api::Application;
use moviedb_event_store::EventStore;
use moviedb_projector::{service, Projector, Stats};
use moviedb_query_api::{LocalProjector, QueryParts, QueryState};
use moviedb_read_model::{EventLogHeads, ReadModelWriter};
use moviedb_search::SearchIndex;
use moviedb_service_kit::Config;
use std::future::Future;
use std::sync::Arc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// How long a clean stop waits for the search index to take what was applied.
const SHUTDOWN_FLUSH: std::time::Duration = std::time::Duration::from_secs(5);

/// The in-process projector, as the query side sees it.
struct InProcess(Projector);

#[async_trait::async_trait]
impl LocalProjector for InProcess {
    fn index_target(&self) -> Option<u64> {
        self.0.stats().index_target()
    }

    fn index_reached(&self, target: u64) -> bool {
        self.0.stats().index_reached(target)
    }

    async fn report(&self, metrics: &moviedb_service_kit::Metrics) {
        service::report(&self.0, metrics).await
    }
}

/// The event log's heads, read from the event store itself: the embedded read models live in
/// a database of their own, beside it.
struct StoreHeads(Arc<dyn EventStore>);

#[async_trait::async_trait]
impl EventLogHeads for StoreHeads {
    async fn head(
        &self,
        stream: uuid::Uuid,
    ) -> Result<Option<u64>, moviedb_read_model::ReadModelError> {
        // A user's stream is short: its registration and its role changes.
        let events = self.0.read_stream(stream).await.map_err(|e| {
            moviedb_read_model::ReadModelError::Unavailable(format!("the event log: {e}"))
        })?;
        Ok(events.last().map(|e| e.version))
    }
}

/// Every role in one process, on one port: the embedded default.
pub struct Embedded {
    command: Application,
    projector: Projector,
    tasks: JoinSet<()>,
    cancel: CancellationToken,
}

impl Embedded {
    /// Opens the stores, binds the port and starts the feeds.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        // This process's projector writes every read model it serves: reads may come from
        // memory (see `CachedReadModels`).
        let read: Arc<dyn ReadModelWriter> =
            moviedb_read_model::CachedReadModels::spawn(service::open_read_models(&config).await?);
        let search = service::open_search(&config).await?;
        let command = Application::build(config.clone()).await?;
        let cancel = CancellationToken::new();
        let mut tasks = JoinSet::new();
        let projector =
            service::with_search(&mut tasks, read.clone(), command.store(), search.clone());
        if let Some(kafka) = &config.kafka {
            moviedb_command_api::spawn_relay(&mut tasks, &command, kafka, &cancel)?;
        }
        service::spawn_feed(
            &mut tasks,
            &projector,
            &config,
            command.commands().committed(),
            &cancel,
        )?;
        service::spawn_sweep(&mut tasks, &projector, &config, &cancel)?;
        let query = QueryState::new(QueryParts {
            log: Arc::new(StoreHeads(command.store())),
            // The query side gets the reading half of the port.
            read: read.clone(),
            search,
            tokens: config.tokens(),
            wait: config.consistency_wait,
            progress: Some(projector.stats().progress()),
            local: Some(Arc::new(InProcess(projector.clone()))),
            metrics: command.metrics(),
            images: config
                .images
                .open(&config.data_dir)?
                .with_cache(moviedb_query_api::IMAGE_CACHE_BYTES),
            images_base_url: config.images.base_url.clone(),
        });
        let command = command.merge(moviedb_query_api::routes::routes(query));
        Ok(Self {
            command,
            projector,
            tasks,
            cancel,
        })
    }

    /// The port bound.
    pub fn port(&self) -> u16 {
        self.command.port()
    }

    /// The event store.
    pub fn store(&self) -> Arc<dyn EventStore> {
        self.command.store()
    }

    /// The read models, as the projector writes them.
    pub fn read_models(&self) -> Arc<dyn ReadModelWriter> {
        self.projector.read_models().clone()
    }

    /// The search index.
    pub fn search(&self) -> Option<Arc<dyn SearchIndex>> {
        self.projector.search().cloned()
    }

    /// The in-process projector.
    pub fn projector(&self) -> Projector {
        self.projector.clone()
    }

    /// The projector's counters.
    pub fn stats(&self) -> Arc<Stats> {
        self.projector.stats()
    }

    /// Serves until `shutdown`, then stops the feeds.
    pub async fn run_until_stopped(
        mut self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let served = self.command.run_until_stopped(shutdown).await;
        self.cancel.cancel();
        while self.tasks.join_next().await.is_some() {}
        // What the feeds applied reaches the search index before the process exits: the index
        // is reconciled at start anyway, but a clean stop leaves it current.
        let flushed = self.projector.index_flushed();
        if tokio::time::timeout(SHUTDOWN_FLUSH, flushed).await.is_err() {
            tracing::warn!(
                "the search index did not catch up before the stop; it is reconciled at the next start"
            );
        }
        served.context("serving HTTP")
    }
}

/// Replays the event store into fresh read models and a fresh search index and swaps them in.
pub async fn rebuild(
    config: &Config,
    progress: impl Fn(u64, u64),
) -> anyhow::Result<moviedb_projector::rebuild::Rebuilt> {
    let store = service::open_store(config).await?;
    let read = service::open_read_models(config).await?;
    let search = service::open_search(config).await?;
    moviedb_projector::rebuild::rebuild(store, read, Some(search), progress)
        .await
        .context("rebuilding")
}
