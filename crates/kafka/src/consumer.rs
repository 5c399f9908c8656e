//! The projector's consumer group. Offsets are stored only after the batch they belong to is
//! applied (`enable.auto.offset.store=false`), and committed from there; a crash replays at
//! most the last batches, which the projector skips as duplicates.

use anyhow::Context;
use moviedb_event_store::StoredEvent;
use moviedb_http::KafkaConfig;
use moviedb_projector::Projector;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Largest batch handed to the projector.
const BATCH: usize = 500;
/// How long to wait for more messages once one arrived.
const LINGER: Duration = Duration::from_millis(5);

/// How often a consumer that holds no partition checks that someone consumes them.
const STALL_CHECK: Duration = Duration::from_secs(5);
/// Checks in a row with a lag and no committed progress before the group counts as stuck.
const STALLED_CHECKS: u32 = 3;

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
    let topics = crate::topics(&config.topic_prefix);
    loop {
        let consumer = Arc::new(consumer(&config)?);
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        consumer.subscribe(&names)?;
        tracing::info!(group = %config.group, topics = ?topics, "Kafka consumer started");
        let outcome = consume(&projector, &consumer, &topics, &cancel).await;
        if let Err(e) = consumer.commit_consumer_state(CommitMode::Sync) {
            if !matches!(e.rdkafka_error_code(), Some(RDKafkaErrorCode::NoOffset)) {
                tracing::warn!(error = %e, "final offset commit failed; the last batch will be re-read");
            }
        }
        match outcome {
            Outcome::Stopped => break,
            // Dropping the consumer leaves the group; the next one joins afresh.
            Outcome::Stuck => tracing::warn!(
                group = %config.group,
                "events wait in partitions that no member of the consumer group consumes; \
                 leaving the group and joining it again"
            ),
        }
    }
    tracing::info!("Kafka consumer stopped");
    Ok(())
}

fn consumer(config: &KafkaConfig) -> anyhow::Result<StreamConsumer> {
    let mut client = ClientConfig::new();
    if let Some(debug) = &config.debug {
        client.set("debug", debug);
    }
    client
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
        .context("creating the Kafka consumer")
}

enum Outcome {
    /// `cancel` fired.
    Stopped,
    /// This consumer holds no partition while events wait that no one consumes.
    Stuck,
}

async fn consume(
    projector: &Projector,
    consumer: &Arc<StreamConsumer>,
    topics: &[String],
    cancel: &CancellationToken,
) -> Outcome {
    let mut stall = Stall::default();
    let mut check = tokio::time::interval(STALL_CHECK);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let first = tokio::select! {
            () = cancel.cancelled() => return Outcome::Stopped,
            _ = check.tick() => {
                if stall.stuck(consumer, topics).await {
                    return Outcome::Stuck;
                }
                continue;
            }
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
        apply_until_done(projector, &events, cancel).await;
        if cancel.is_cancelled() {
            return Outcome::Stopped;
        }
        for ((topic, partition), offset) in offsets {
            if let Err(e) = consumer.store_offset(&topic, partition, offset) {
                // The partition was revoked meanwhile; its new owner re-applies, harmlessly.
                tracing::warn!(error = %e, topic, partition, "cannot store an offset");
            }
        }
    }
}

/// Watches for a consumer group that has settled with partitions no member holds.
///
/// A broker's group coordinator can end a rebalance that way: tansu 0.6 does when a member
/// joins while the leader it replaces (killed, not yet timed out) is still listed, and then
/// answers every heartbeat as if all were well. A member that holds no partition therefore
/// checks, every [`STALL_CHECK`], whether the group's committed offsets lag the end of the
/// topics without moving; after [`STALLED_CHECKS`] such checks it rejoins. In a healthy group
/// an idle member sees offsets move (or no lag) and does nothing.
#[derive(Default)]
struct Stall {
    last: Option<Vec<i64>>,
    checks: u32,
}

impl Stall {
    async fn stuck(&mut self, consumer: &Arc<StreamConsumer>, topics: &[String]) -> bool {
        match consumer.assignment() {
            Ok(assigned) if assigned.count() == 0 => {}
            // Holding partitions (or not knowing): this member consumes; nothing to watch.
            _ => {
                *self = Self::default();
                return false;
            }
        }
        let (consumer, topics) = (Arc::clone(consumer), topics.to_vec());
        let progress = tokio::task::spawn_blocking(move || lag_and_offsets(&consumer, &topics))
            .await
            .map_err(anyhow::Error::from)
            .and_then(|r| r);
        match progress {
            Ok((lag, committed)) if lag > 0 => {
                if self.last.as_ref() == Some(&committed) {
                    self.checks += 1;
                } else {
                    self.checks = 0;
                    self.last = Some(committed);
                }
                tracing::debug!(lag, checks = self.checks, "no partition assigned here");
                self.checks >= STALLED_CHECKS
            }
            Ok(_) => {
                *self = Self::default();
                false
            }
            Err(e) => {
                tracing::debug!(error = %e, "cannot read the group's progress");
                false
            }
        }
    }
}

/// The events not yet consumed by the group, and its committed offsets, over every partition
/// of `topics` (blocking calls to the broker).
fn lag_and_offsets(
    consumer: &StreamConsumer,
    topics: &[String],
) -> anyhow::Result<(i64, Vec<i64>)> {
    const TIMEOUT: Duration = Duration::from_secs(5);
    let mut partitions = TopicPartitionList::new();
    for topic in topics {
        let metadata = consumer.fetch_metadata(Some(topic), TIMEOUT)?;
        for found in metadata.topics() {
            for partition in found.partitions() {
                partitions.add_partition(topic, partition.id());
            }
        }
    }
    let committed = consumer.committed_offsets(partitions, TIMEOUT)?;
    let (mut lag, mut offsets) = (0i64, Vec::new());
    for element in committed.elements() {
        let (low, high) =
            consumer.fetch_watermarks(element.topic(), element.partition(), TIMEOUT)?;
        let at = match element.offset() {
            Offset::Offset(at) => at.max(low),
            _ => low,
        };
        lag += (high - at).max(0);
        offsets.push(at);
    }
    Ok((lag, offsets))
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
