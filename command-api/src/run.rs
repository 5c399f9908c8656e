//! The command API as a process of its own (the `command-api` binary): with Kafka configured
//! it also runs the outbox relay (one active per database; any number of instances may run).

use crate::{Application, Config};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Serves until SIGINT or SIGTERM.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let app = Application::build(config.clone()).await?;
    let cancel = CancellationToken::new();
    let mut tasks = JoinSet::new();
    if let Some(kafka) = &config.kafka {
        spawn_relay(&mut tasks, &app, kafka, &cancel)?;
    }
    let served = app
        .run_until_stopped(moviedb_service_kit::shutdown_signal())
        .await;
    cancel.cancel();
    while tasks.join_next().await.is_some() {}
    Ok(served?)
}

/// Relays the outbox to Kafka on `tasks` (SQLite has no outbox: nothing to relay).
#[cfg(feature = "kafka")]
pub fn spawn_relay(
    tasks: &mut JoinSet<()>,
    app: &Application,
    kafka: &moviedb_service_kit::KafkaConfig,
    cancel: &CancellationToken,
) -> anyhow::Result<()> {
    let Some(outbox) = app.store().outbox() else {
        tracing::warn!(
            "MOVIEDB_KAFKA_BROKERS is set, but the event store is SQLite, which has no outbox: \
             nothing is relayed"
        );
        return Ok(());
    };
    let sink = moviedb_kafka::KafkaSink::new(kafka)?;
    let (kafka, wake, cancel) = (kafka.clone(), app.commands().committed(), cancel.clone());
    tasks.spawn(async move {
        if let Err(e) = moviedb_kafka::ensure_topics(&kafka).await {
            tracing::warn!(error = %e, "cannot create the topics yet; the producer will retry");
        }
        moviedb_event_store::relay::run(outbox, sink, wake, cancel).await;
    });
    Ok(())
}

/// Without the Kafka adapter, a configured broker is an error, not a silent loss of the feed.
#[cfg(not(feature = "kafka"))]
pub fn spawn_relay(
    _tasks: &mut JoinSet<()>,
    _app: &Application,
    _kafka: &moviedb_service_kit::KafkaConfig,
    _cancel: &CancellationToken,
) -> anyhow::Result<()> {
    anyhow::bail!(
        "MOVIEDB_KAFKA_BROKERS is set, but this build has no Kafka adapter: build with \
         `--features kafka`"
    )
}
