//! The projector as a process of its own (the `projector` binary): its feeds, and
//! `/health/live`, `/health/ready` and `/metrics` on `MOVIEDB_LISTEN`.
//!
//! | event store | Kafka brokers set | feed |
//! |---|---|---|
//! | SQLite | no | the projector tails the events table ([`crate::tail`]) |
//! | MySQL | no | the outbox, relayed straight into the projector (`moviedb_event_store::relay`) |
//! | MySQL | yes | the outbox relayed to Kafka by the command API; a consumer group here |

use crate::Projector;
use anyhow::Context;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use moviedb_event_store::EventStore;
use moviedb_read_model::ReadModelWriter;
use moviedb_search::SearchIndex;
use moviedb_service_kit::gauges::{self, GaugeValue};
use moviedb_service_kit::{ApiError, Config, Metrics, SearchConfig};
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Opens the event store `config` names.
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn EventStore>> {
    moviedb_event_store::connect(&config.database_url)
        .await
        .with_context(|| {
            format!(
                "opening the event store at {}",
                moviedb_service_kit::redact_url(&config.database_url)
            )
        })
}

/// Opens the read models `config` names, making their tables if missing.
pub async fn open_read_models(config: &Config) -> anyhow::Result<Arc<dyn ReadModelWriter>> {
    moviedb_read_model::connect(&config.read_database_url)
        .await
        .with_context(|| {
            format!(
                "opening the read models at {}",
                moviedb_service_kit::redact_url(&config.read_database_url)
            )
        })
}

/// Opens the search index `config` names.
pub async fn open_search(config: &Config) -> anyhow::Result<Arc<dyn SearchIndex>> {
    let backend = match &config.search {
        SearchConfig::Tantivy(dir) => moviedb_search::Backend::Tantivy(dir),
        SearchConfig::Elasticsearch { url, index_prefix } => {
            moviedb_search::Backend::Elasticsearch { url, index_prefix }
        }
    };
    Ok(moviedb_search::open(backend).await?)
}

/// A projector over `read` and `store` that also writes `search`. In the background it brings
/// the index up to date with the read models (a first start on an existing catalogue, or a
/// crash between the two writes) and fills the movie histories the read database lacks (see
/// [`crate::history`]).
pub fn with_search(
    tasks: &mut JoinSet<()>,
    read: Arc<dyn ReadModelWriter>,
    store: Arc<dyn EventStore>,
    search: Arc<dyn SearchIndex>,
) -> Projector {
    let (r, s) = (read.clone(), search.clone());
    tasks.spawn(async move {
        match crate::index::reconcile(r.as_ref(), s.as_ref()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(documents = n, "search index brought up to date"),
            Err(e) => {
                tracing::warn!(error = %e, "cannot check the search index against the read models")
            }
        }
    });
    let projector = Projector::new(read, store).with_search(search);
    let p = projector.clone();
    // Not on `tasks`: a stop need not wait for it (every row it writes is written once, and
    // the next start finishes what it left).
    tokio::spawn(async move {
        match crate::history::backfill(&p).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(movies = n, "movie histories filled from the event store"),
            Err(e) => tracing::warn!(error = %e, "cannot fill the movie histories yet"),
        }
    });
    projector
}

/// Starts the feed that brings events to `projector`, on `tasks` (see the table above).
/// `wake` ticks after appends made in this process.
pub fn spawn_feed(
    tasks: &mut JoinSet<()>,
    projector: &Projector,
    config: &Config,
    wake: watch::Receiver<u64>,
    cancel: &CancellationToken,
) -> anyhow::Result<()> {
    let (p, cancel) = (projector.clone(), cancel.clone());
    #[cfg(feature = "mysql")]
    if let Some(outbox) = projector.store().outbox() {
        return spawn_outbox_feed(tasks, p, outbox, config, wake, cancel);
    }
    if config.kafka.is_some() {
        tracing::warn!(
            "MOVIEDB_KAFKA_BROKERS is set, but the event store is SQLite, which has no outbox: \
             the projector tails the event table instead"
        );
    }
    tasks.spawn(async move {
        if let Err(e) = crate::tail::run(p, wake, cancel).await {
            tracing::error!(error = %e, "the embedded feed stopped");
        }
    });
    Ok(())
}

/// Sweeps the posters no movie shows, as `config.images` says (see [`crate::sweep`]).
pub fn spawn_sweep(
    tasks: &mut JoinSet<()>,
    projector: &Projector,
    config: &Config,
    cancel: &CancellationToken,
) -> anyhow::Result<()> {
    if let Some(every) = config.images.sweep_every {
        crate::sweep::spawn(
            tasks,
            projector.read_models().clone(),
            config.images.open(&config.data_dir)?,
            config.images.sweep_grace,
            every,
            cancel.clone(),
        );
    }
    Ok(())
}

/// The feed from a MySQL store's outbox: Kafka when configured, else the outbox itself.
#[cfg(feature = "mysql")]
fn spawn_outbox_feed(
    tasks: &mut JoinSet<()>,
    p: Projector,
    outbox: moviedb_event_store::MySqlOutbox,
    config: &Config,
    wake: watch::Receiver<u64>,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    match &config.kafka {
        None => {
            tasks.spawn(moviedb_event_store::relay::run(outbox, p, wake, cancel));
        }
        #[cfg(feature = "kafka")]
        Some(kafka) => {
            let kafka = kafka.clone();
            tasks.spawn(async move {
                if let Err(e) = moviedb_kafka::consumer::run(Arc::new(p), kafka, cancel).await {
                    tracing::error!(error = %e, "the Kafka consumer stopped");
                }
            });
        }
        #[cfg(not(feature = "kafka"))]
        Some(_) => anyhow::bail!(
            "MOVIEDB_KAFKA_BROKERS is set, but this build has no Kafka adapter: build with \
             `--features kafka`"
        ),
    }
    Ok(())
}

/// Sets the projector's counters and how stale the read models are on `metrics`: the age of
/// the newest event they hold (the checkpoint every applying batch keeps), of the newest event
/// stored, how far the first trails the second (0 once caught up; it grows while events are
/// written and none are applied), on MySQL the outbox backlog, and the dead letters waiting.
/// What cannot be read is left out and logged.
pub async fn report(projector: &Projector, metrics: &Metrics) {
    for (name, help, total) in projector.stats().counters() {
        metrics.set_counter(name, help, total);
    }
    metrics.set_gauge(
        "moviedb_projection_lag_ms",
        "Commit-to-visible time of the last applied batch.",
        projector.stats().snapshot().last_lag_ms as f64,
    );
    let applied = match projector
        .read_models()
        .checkpoint(moviedb_read_model::NEWEST_APPLIED)
        .await
    {
        Ok(applied) => applied,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the newest applied event for /metrics");
            None
        }
    };
    let stored = match projector.store().newest_recorded_at().await {
        Ok(stored) => stored,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the newest stored event for /metrics");
            None
        }
    };
    let mut values: Vec<GaugeValue> = Vec::new();
    values.extend(gauges::newest_applied(applied));
    values.extend(stored.map(gauges::newest_stored));
    // On MySQL, the first part of the lag: events not yet relayed.
    #[cfg(feature = "mysql")]
    if let Some(outbox) = projector.store().outbox() {
        match outbox.backlog().await {
            Ok((pending, waited)) => values.extend(gauges::outbox(pending, waited)),
            Err(e) => tracing::warn!(error = %e, "cannot read the outbox backlog for /metrics"),
        }
    }
    // Both known: before the first batch of a version that keeps the checkpoint, nothing.
    if let (Some(stored), Some(applied)) = (stored, applied) {
        values.push(gauges::behind(stored, applied));
    }
    match projector.read_models().dead_letter_count().await {
        Ok(dead) => values.push(gauges::dead_letters(dead)),
        Err(e) => tracing::warn!(error = %e, "cannot count dead letters for /metrics"),
    }
    for (name, help, value) in values {
        metrics.set_gauge(name, help, value);
    }
}

fn router(projector: Projector, metrics: Metrics) -> Router {
    Router::new()
        .route(
            "/health/live",
            get(|| async { Json(json!({ "status": "ok" })) }),
        )
        .route("/health/ready", get(ready))
        .with_state(projector.clone())
        .merge(
            Router::new()
                .route("/metrics", get(metrics_route))
                .with_state((projector, metrics)),
        )
}

/// Ready when the read models and the search index answer; 503 with `Retry-After` otherwise.
async fn ready(State(projector): State<Projector>) -> Result<Json<Value>, ApiError> {
    projector
        .read_models()
        .ping()
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    if let Some(search) = projector.search() {
        search
            .ping()
            .await
            .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    }
    Ok(Json(
        json!({ "status": "ok", "read_models": "ok", "search": "ok" }),
    ))
}

async fn metrics_route(State((projector, metrics)): State<(Projector, Metrics)>) -> Response {
    report(&projector, &metrics).await;
    metrics.response()
}

/// Runs the projector until SIGINT or SIGTERM.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let store = open_store(&config).await?;
    let read = open_read_models(&config).await?;
    let search = open_search(&config).await?;
    let cancel = CancellationToken::new();
    let mut tasks = JoinSet::new();
    let projector = with_search(&mut tasks, read, store, search);
    // Nothing appends in this process: the feeds poll.
    let (_never, wake) = watch::channel(0);
    spawn_feed(&mut tasks, &projector, &config, wake, &cancel)?;
    spawn_sweep(&mut tasks, &projector, &config, &cancel)?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    // Installed before the line that says it listens (see `shutdown_signal`).
    let stop = moviedb_service_kit::shutdown_signal();
    tracing::info!(address = %listener.local_addr()?, "projector health and metrics listening");
    let metrics = Metrics::new();
    let app = moviedb_service_kit::with_middleware(
        router(projector, metrics.clone()),
        config.body_limit,
        &metrics,
    );
    let served = moviedb_service_kit::serve(listener, app, config.limits, stop).await;
    cancel.cancel();
    while tasks.join_next().await.is_some() {}
    Ok(served?)
}
