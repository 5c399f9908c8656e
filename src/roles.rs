//! The roles and the feeds that connect them.
//!
//! | event store | Kafka brokers set | feed |
//! |---|---|---|
//! | SQLite | no | the projector tails the events table ([`moviedb_projector::tail`]) |
//! | MySQL | no | the outbox, relayed straight into the projector ([`moviedb_projector::outbox`]) |
//! | MySQL | yes | the outbox relayed to Kafka, a consumer group into the projector |

use anyhow::Context;
use moviedb_command_api::Application;
use moviedb_event_store::EventStore;
use moviedb_http::{Config, KafkaConfig, SearchConfig};
use moviedb_projector::{Projector, Stats};
use moviedb_query_api::{QueryApplication, QueryState};
use moviedb_read_model::ReadModels;
use moviedb_search::{SearchIndex, TantivyIndex};
use std::future::Future;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

async fn read_models(config: &Config) -> anyhow::Result<Arc<dyn ReadModels>> {
    moviedb_read_model::connect(&config.read_database_url)
        .await
        .with_context(|| {
            format!(
                "opening the read models at {}",
                moviedb_event_store::redact_url(&config.read_database_url)
            )
        })
}

/// The read models of a process that only reads them (the query API): it makes nothing, so
/// `MOVIEDB_READ_DATABASE_URL` may name a read replica.
async fn existing_read_models(config: &Config) -> anyhow::Result<Arc<dyn ReadModels>> {
    moviedb_read_model::connect_existing(&config.read_database_url)
        .await
        .with_context(|| {
            format!(
                "opening the read models at {}",
                moviedb_event_store::redact_url(&config.read_database_url)
            )
        })
}

async fn event_store(config: &Config) -> anyhow::Result<Arc<dyn EventStore>> {
    moviedb_event_store::connect(&config.database_url)
        .await
        .with_context(|| {
            format!(
                "opening the event store at {}",
                moviedb_event_store::redact_url(&config.database_url)
            )
        })
}

async fn search_index(config: &Config) -> anyhow::Result<Arc<dyn SearchIndex>> {
    Ok(match &config.search {
        SearchConfig::Tantivy(dir) => Arc::new(
            TantivyIndex::open(dir)
                .with_context(|| format!("opening the search index in {}", dir.display()))?,
        ),
        #[cfg(feature = "elasticsearch")]
        SearchConfig::Elasticsearch { url, index_prefix } => Arc::new(
            moviedb_search::ElasticIndex::connect(url, index_prefix)
                .await
                .with_context(|| {
                    format!(
                        "connecting to Elasticsearch at {}",
                        moviedb_event_store::redact_url(url)
                    )
                })?,
        ),
        #[cfg(not(feature = "elasticsearch"))]
        SearchConfig::Elasticsearch { .. } => anyhow::bail!(
            "MOVIEDB_ELASTICSEARCH_URL is set, but this build has no Elasticsearch adapter: \
             build with `--features elasticsearch` (or `distributed`)"
        ),
    })
}

/// How long a clean stop waits for the search index to take what was applied.
const SHUTDOWN_FLUSH: std::time::Duration = std::time::Duration::from_secs(5);

/// A projector over `read` and `store` that also writes `search`, after bringing the index up
/// to date with the read models in the background (a first start on an existing catalogue, or
/// a crash between the two writes).
fn projector_with_search(
    tasks: &mut JoinSet<()>,
    read: Arc<dyn ReadModels>,
    store: Arc<dyn EventStore>,
    search: Arc<dyn SearchIndex>,
) -> Projector {
    let (r, s) = (read.clone(), search.clone());
    tasks.spawn(async move {
        match moviedb_projector::index::reconcile(r.as_ref(), s.as_ref()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(documents = n, "search index brought up to date"),
            Err(e) => {
                tracing::warn!(error = %e, "cannot check the search index against the read models")
            }
        }
    });
    Projector::new(read, store).with_search(search)
}

/// The query side's state over `read`, `search` and `store`; `stats` when the projector runs
/// in this process (then waiting readers are woken by its progress).
fn query_state(
    config: &Config,
    read: Arc<dyn ReadModels>,
    search: Arc<dyn SearchIndex>,
    store: Arc<dyn EventStore>,
    stats: Option<Arc<Stats>>,
) -> QueryState {
    QueryState {
        read,
        search,
        store,
        tokens: moviedb_http::auth::Tokens::new(&config.jwt_secret, config.token_ttl),
        wait: config.consistency_wait,
        progress: stats.as_ref().map(|s| s.progress()),
        stats,
    }
}

/// Starts the feeds that bring events to `projector` (and, with Kafka, the relay that takes
/// them there), on `tasks`.
fn spawn_feeds(
    tasks: &mut JoinSet<()>,
    store: &Arc<dyn EventStore>,
    projector: Option<&Projector>,
    kafka: Option<&KafkaConfig>,
    #[cfg_attr(not(feature = "kafka"), allow(unused_variables))] relay: bool,
    wake: watch::Receiver<u64>,
    cancel: &CancellationToken,
) -> anyhow::Result<()> {
    match (store.outbox(), kafka) {
        (None, kafka) => {
            if kafka.is_some() {
                tracing::warn!(
                    "MOVIEDB_KAFKA_BROKERS is set, but the event store is SQLite, which has no \
                     outbox: the projector tails the event table instead"
                );
            }
            if let Some(projector) = projector {
                let (projector, cancel) = (projector.clone(), cancel.clone());
                tasks.spawn(async move {
                    if let Err(e) = moviedb_projector::tail::run(projector, wake, cancel).await {
                        tracing::error!(error = %e, "the embedded feed stopped");
                    }
                });
            }
        }
        #[cfg(feature = "kafka")]
        (Some(outbox), Some(kafka)) => {
            if relay {
                let sink = moviedb_kafka::KafkaSink::new(kafka)?;
                let (kafka_config, cancel) = (kafka.clone(), cancel.clone());
                tasks.spawn(async move {
                    if let Err(e) = moviedb_kafka::ensure_topics(&kafka_config).await {
                        tracing::warn!(error = %e, "cannot create the topics yet; the producer will retry");
                    }
                    moviedb_projector::outbox::run(outbox, sink, wake, cancel).await;
                });
            }
            if let Some(projector) = projector {
                let (projector, kafka, cancel) = (projector.clone(), kafka.clone(), cancel.clone());
                tasks.spawn(async move {
                    if let Err(e) = moviedb_kafka::consumer::run(projector, kafka, cancel).await {
                        tracing::error!(error = %e, "the Kafka consumer stopped");
                    }
                });
            }
        }
        #[cfg(not(feature = "kafka"))]
        (Some(_), Some(_)) => anyhow::bail!(
            "MOVIEDB_KAFKA_BROKERS is set, but this build has no Kafka adapter: build with \
             `--features kafka` (or `distributed`)"
        ),
        (Some(outbox), None) => {
            if let Some(projector) = projector {
                let (projector, cancel) = (projector.clone(), cancel.clone());
                tasks.spawn(moviedb_projector::outbox::run(
                    outbox, projector, wake, cancel,
                ));
            }
        }
    }
    Ok(())
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
        let read: Arc<dyn ReadModels> =
            moviedb_read_model::CachedReadModels::spawn(read_models(&config).await?);
        let search = search_index(&config).await?;
        let command = Application::build(config.clone()).await?;
        let cancel = CancellationToken::new();
        let mut tasks = JoinSet::new();
        let projector =
            projector_with_search(&mut tasks, read.clone(), command.store(), search.clone());
        spawn_feeds(
            &mut tasks,
            &command.store(),
            Some(&projector),
            config.kafka.as_ref(),
            true,
            command.commands().committed(),
            &cancel,
        )?;
        let query = query_state(
            &config,
            read,
            search,
            command.store(),
            Some(projector.stats()),
        );
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

    /// The read models.
    pub fn read_models(&self) -> Arc<dyn ReadModels> {
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

/// The command API alone; with Kafka it also runs the outbox relay (one active per database).
pub async fn command_api(config: Config) -> anyhow::Result<()> {
    let app = Application::build(config.clone()).await?;
    let cancel = CancellationToken::new();
    let mut tasks = JoinSet::new();
    if config.kafka.is_some() {
        spawn_feeds(
            &mut tasks,
            &app.store(),
            None,
            config.kafka.as_ref(),
            true,
            app.commands().committed(),
            &cancel,
        )?;
    }
    let served = app.run_until_stopped(moviedb_http::shutdown_signal()).await;
    cancel.cancel();
    while tasks.join_next().await.is_some() {}
    Ok(served?)
}

/// The projector alone, with `/health/live`, `/health/ready` and `/metrics` on
/// `MOVIEDB_LISTEN`.
pub async fn projector(config: Config) -> anyhow::Result<()> {
    let store = event_store(&config).await?;
    let read = read_models(&config).await?;
    let search = search_index(&config).await?;
    let cancel = CancellationToken::new();
    let mut tasks = JoinSet::new();
    let projector = projector_with_search(&mut tasks, read.clone(), store.clone(), search.clone());
    let (_never, wake) = watch::channel(0);
    spawn_feeds(
        &mut tasks,
        &store,
        Some(&projector),
        config.kafka.as_ref(),
        false,
        wake,
        &cancel,
    )?;
    let state = query_state(&config, read, search, store, Some(projector.stats()));
    let router = moviedb_query_api::routes::health_router(state);
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    tracing::info!(address = %listener.local_addr()?, "projector health and metrics listening");
    let limits = moviedb_http::ServerLimits::from_env()?;
    let served =
        moviedb_http::serve(listener, router, limits, moviedb_http::shutdown_signal()).await;
    cancel.cancel();
    while tasks.join_next().await.is_some() {}
    Ok(served?)
}

/// The query API alone.
pub async fn query_api(config: Config) -> anyhow::Result<()> {
    let state = query_state(
        &config,
        existing_read_models(&config).await?,
        search_index(&config).await?,
        event_store(&config).await?,
        None,
    );
    let app = QueryApplication::build(config.listen, state, config.body_limit).await?;
    app.run_until_stopped(moviedb_http::shutdown_signal())
        .await?;
    Ok(())
}

/// Replays the event store into fresh read models and a fresh search index and swaps them in.
pub async fn rebuild(
    config: &Config,
    progress: impl Fn(u64, u64),
) -> anyhow::Result<moviedb_projector::rebuild::Rebuilt> {
    let store = event_store(config).await?;
    let read = read_models(config).await?;
    let search = search_index(config).await?;
    moviedb_projector::rebuild::rebuild(store, read, Some(search), progress).await
}
