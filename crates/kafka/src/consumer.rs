//! The projector's consumer group. Offsets are stored only after the batch they belong to is
//! applied (`enable.auto.offset.store=false`), and committed from there; a crash replays at
//! most the last batches, which the projector skips as duplicates.

use anyhow::Context;
use moviedb_event_store::StoredEvent;
use moviedb_http::KafkaConfig;
use moviedb_projector::Projector;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::ClientConfig;
use std::collections::HashMap;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Largest batch handed to the projector.
const BATCH: usize = 500;
/// How long to wait for more messages once one arrived.
const LINGER: Duration = Duration::from_millis(5);

/// Consumes until `cancel` fires.
pub async fn run(
    projector: Projector,
    config: KafkaConfig,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    // The broker may not be up yet: wait for it rather than give up.
    let mut attempt = 0u32;
    while let Err(e) = crate::ensure_topics(&config).await {
        attempt += 1;
        let backoff = moviedb_projector::backoff(attempt);
        tracing::warn!(error = %e, backoff_ms = backoff.as_millis() as u64, "cannot reach Kafka to create the topics; retrying");
        tokio::select! {
            () = cancel.cancelled() => return Ok(()),
            () = tokio::time::sleep(backoff) => {}
        }
    }
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &config.brokers)
        .set("group.id", &config.group)
        .set("enable.auto.commit", "true")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "10000")
        // How long the broker may hold a fetch when it has nothing new. librdkafka's 500 ms
        // default was the whole write -> readable time through Kafka (tansu answers a fetch
        // only when this runs out); under load fetches come back full at once anyway.
        .set("fetch.wait.max.ms", "10")
        .create()
        .context("creating the Kafka consumer")?;
    let topics = crate::topics(&config.topic_prefix);
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    consumer.subscribe(&names)?;
    tracing::info!(group = %config.group, topics = ?topics, "Kafka consumer started");
    loop {
        let first = tokio::select! {
            () = cancel.cancelled() => break,
            message = consumer.recv() => message,
        };
        let mut messages = Vec::new();
        match first {
            Ok(message) => messages.push(message.detach()),
            Err(e) => {
                tracing::warn!(error = %e, "Kafka consumer error");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        }
        while messages.len() < BATCH {
            match tokio::time::timeout(LINGER, consumer.recv()).await {
                Ok(Ok(message)) => messages.push(message.detach()),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "Kafka consumer error");
                    break;
                }
                Err(_) => break,
            }
        }
        let mut events = Vec::with_capacity(messages.len());
        let mut offsets: HashMap<(String, i32), i64> = HashMap::new();
        for message in &messages {
            let offset = offsets
                .entry((message.topic().to_owned(), message.partition()))
                .or_insert(message.offset());
            *offset = (*offset).max(message.offset());
            match message.payload().map(serde_json::from_slice::<StoredEvent>) {
                Some(Ok(event)) => events.push(event),
                // Not an event of ours: nothing can apply it, and it must not stop the rest.
                other => tracing::error!(
                    topic = message.topic(), partition = message.partition(),
                    offset = message.offset(), error = ?other.map(|r| r.err()),
                    "skipping a message that is not an event envelope"
                ),
            }
        }
        apply_until_done(&projector, &events, &cancel).await;
        if cancel.is_cancelled() {
            break;
        }
        for ((topic, partition), offset) in offsets {
            if let Err(e) = consumer.store_offset(&topic, partition, offset) {
                // The partition was revoked meanwhile; its new owner re-applies, harmlessly.
                tracing::warn!(error = %e, topic, partition, "cannot store an offset");
            }
        }
    }
    if let Err(e) = consumer.commit_consumer_state(CommitMode::Sync) {
        tracing::warn!(error = %e, "final offset commit failed; the last batch will be re-read");
    }
    tracing::info!("Kafka consumer stopped");
    Ok(())
}

/// Retries a batch until it is applied (or the projector is stopped): its offsets are not
/// stored before, so nothing is skipped.
async fn apply_until_done(
    projector: &Projector,
    events: &[StoredEvent],
    cancel: &CancellationToken,
) {
    let mut failures = 0u32;
    loop {
        match projector.handle(events, None).await {
            Ok(_) => return,
            Err(e) => {
                failures += 1;
                let backoff = moviedb_projector::backoff(failures);
                tracing::error!(error = %e, backoff_ms = backoff.as_millis() as u64, "batch not applied; retrying");
                tokio::select! {
                    () = cancel.cancelled() => return,
                    () = tokio::time::sleep(backoff) => {}
                }
            }
        }
    }
}
