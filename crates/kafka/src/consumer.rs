//! The projector's consumer group. Offsets are stored only after the batch they belong to is
//! applied (`enable.auto.offset.store=false`), and committed from there; a crash replays at
//! most the last batches, which the projector skips as duplicates.
//!
//! Two guards, because the event store, not the broker, is the source of truth (both were
//! needed against tansu 0.6 in the crash-point suite): a member rejoins the group when events
//! wait in partitions no one consumes ([`Stall`]), and when the broker passes over offsets the
//! projections catch up from the event store (once the feed is quiet; also once after every
//! start or rejoin, where a jump cannot be seen).

use anyhow::Context;
use moviedb_event_store::feed::Subscriber;
use moviedb_event_store::StoredEvent;
use moviedb_service_kit::KafkaConfig;
use moviedb_sql_kit::Backoff;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Largest batch handed to the projector.
const BATCH: usize = 500;
/// How long to wait for more messages once one arrived. Batches form without waiting: what
/// arrives while a batch is applied is in librdkafka's queue when the next one starts. A
/// wait here only delayed a lone write (5 ms of the 22 ms p50 write -> readable through
/// Kafka); 1 ms takes the rest of a fetch that is still being handed over.
const LINGER: Duration = Duration::from_millis(1);

/// How often a consumer checks that the partitions it does not hold are consumed.
const STALL_CHECK: Duration = Duration::from_secs(5);
/// How long the feed must be quiet before a due catch-up from the event store runs.
const CATCH_UP_QUIET: Duration = Duration::from_secs(1);
/// How long a due catch-up may wait for a quiet feed.
const CATCH_UP_LATEST: Duration = Duration::from_secs(10);
/// Checks in a row with a lag and no committed progress before the group counts as stuck
/// (the first time; see [`Stall`]).
const STALLED_CHECKS: u32 = 3;

/// Consumes until `cancel` fires.
pub async fn run(
    projector: Arc<dyn Subscriber>,
    config: KafkaConfig,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    // The broker may not be up yet: wait for it rather than give up.
    let mut backoff = Backoff::default();
    while let Err(e) = crate::ensure_topics(&config).await {
        let wait = backoff.next_wait();
        tracing::warn!(error = %e, backoff_ms = wait.as_millis() as u64, "cannot reach Kafka to create the topics; retrying");
        tokio::select! {
            () = cancel.cancelled() => return Ok(()),
            () = tokio::time::sleep(wait) => {}
        }
    }
    let topics = crate::topics(&config.topic_prefix);
    let mut stall = Stall::default();
    loop {
        let consumer = Arc::new(consumer(&config)?);
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        consumer.subscribe(&names)?;
        tracing::info!(group = %config.group, topics = ?topics, "Kafka consumer started");
        let outcome = consume(projector.as_ref(), &consumer, &topics, &mut stall, &cancel).await;
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
        // only when this runs out, so a record waits half of it on average); under load
        // fetches come back full at once anyway.
        .set("fetch.wait.max.ms", "5")
        .create()
        .context("creating the Kafka consumer")
}

enum Outcome {
    /// `cancel` fired.
    Stopped,
    /// Events wait in partitions that no one consumes.
    Stuck,
}

async fn consume(
    projector: &dyn Subscriber,
    consumer: &Arc<StreamConsumer>,
    topics: &[String],
    stall: &mut Stall,
    cancel: &CancellationToken,
) -> Outcome {
    // The offset expected next from each partition, to notice records passed over.
    let mut next: HashMap<(String, i32), i64> = HashMap::new();
    // Since when a catch-up from the event store is due, and when a batch last came. One is
    // due at every start: a jump at the first record of a partition cannot be seen (there is
    // no offset before it to compare with), and after a rejoin that is where one shows up.
    let mut catch_up: Option<Instant> = Some(Instant::now());
    let mut last_batch = Instant::now();
    let mut errors = Backoff::default();
    let mut check = tokio::time::interval(STALL_CHECK);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let first = tokio::select! {
            () = cancel.cancelled() => return Outcome::Stopped,
            _ = check.tick() => {
                if stall.stuck(consumer, topics).await {
                    return Outcome::Stuck;
                }
                // Once the feed is quiet (the stream heads then differ only by what was passed
                // over), or after ten seconds of steady load at the latest.
                if let Some(due) = catch_up {
                    if last_batch.elapsed() >= CATCH_UP_QUIET || due.elapsed() >= CATCH_UP_LATEST {
                        // Every stream the read models hold at an older version than the store.
                        match projector.catch_up().await {
                            Ok(behind) => {
                                tracing::info!(streams = behind, "caught up from the event store");
                                catch_up = None;
                            }
                            Err(e) => tracing::warn!(error = %e, "cannot catch up from the event store yet"),
                        }
                    }
                }
                continue;
            }
            message = consumer.recv() => message,
        };
        let mut messages = Vec::new();
        match first {
            Ok(message) => {
                errors.reset();
                messages.push(message.detach());
            }
            Err(e) => {
                let wait = errors.next_wait();
                tracing::warn!(error = %e, backoff_ms = wait.as_millis() as u64, "Kafka consumer error");
                tokio::select! {
                    () = cancel.cancelled() => return Outcome::Stopped,
                    () = tokio::time::sleep(wait) => continue,
                }
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
            let key = (message.topic().to_owned(), message.partition());
            // Our topics are neither compacted nor transactional: offsets come one by one. A
            // jump means the broker passed over records (tansu 0.6 does, now and then, after
            // producers were killed), or that the partition came back after another member
            // consumed part of it (the catch-up then finds nothing to do). What was passed
            // over is read from the event store once the feed is quiet.
            if let Some(&expected) = next.get(&key).filter(|&&e| e < message.offset()) {
                tracing::warn!(topic = message.topic(), partition = message.partition(), expected, offset = message.offset(),
                    "the broker skipped offsets; the projections will catch up from the event store");
                catch_up.get_or_insert_with(Instant::now);
            }
            next.insert(key.clone(), message.offset() + 1);
            let offset = offsets.entry(key).or_insert(message.offset());
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
        last_batch = Instant::now();
    }
}

/// Watches for a consumer group that has settled with partitions no member consumes.
///
/// A broker's group coordinator can end a rebalance that way: tansu 0.6 does when a member
/// joins while the leader it replaces (killed, not yet timed out) is still listed, and then
/// answers every heartbeat as if all were well; the newcomer holds none or only some of the
/// partitions. So every [`STALL_CHECK`] a member looks at the partitions it does not hold: if
/// one of them lags the end of its topic and its committed offset has not moved for
/// [`STALLED_CHECKS`] checks in a row, the member rejoins the group. In a healthy group the
/// other members' offsets move (or nothing lags) and it does nothing. After each rejoin the
/// number of checks doubles (up to an hour's worth), so a member that is alive but stuck
/// elsewhere (its database down) does not make the group rebalance every few seconds; the
/// count starts again once the group is seen making progress.
struct Stall {
    /// The partitions last seen lagging and not held here, with their committed offsets.
    last: Option<Vec<(String, i32, i64)>>,
    checks: u32,
    needed: u32,
}

impl Default for Stall {
    fn default() -> Self {
        Self {
            last: None,
            checks: 0,
            needed: STALLED_CHECKS,
        }
    }
}

impl Stall {
    /// Whether this member should rejoin the group.
    async fn stuck(&mut self, consumer: &Arc<StreamConsumer>, topics: &[String]) -> bool {
        let (consumer, topics) = (Arc::clone(consumer), topics.to_vec());
        let waiting = tokio::task::spawn_blocking(move || unconsumed(&consumer, &topics))
            .await
            .map_err(anyhow::Error::from)
            .and_then(|r| r);
        let waiting = match waiting {
            Ok(waiting) => waiting,
            Err(e) => {
                tracing::debug!(error = %e, "cannot read the group's progress");
                return false;
            }
        };
        if waiting.is_empty() {
            // Everything not held here is consumed: the group works.
            self.last = None;
            self.checks = 0;
            self.needed = STALLED_CHECKS;
            return false;
        }
        if self.last.as_ref() == Some(&waiting) {
            self.checks += 1;
        } else {
            self.checks = 0;
            self.last = Some(waiting);
        }
        tracing::debug!(checks = self.checks, needed = self.needed, waiting = ?self.last, "partitions lag and are not held here");
        if self.checks < self.needed {
            return false;
        }
        self.last = None;
        self.checks = 0;
        self.needed = (self.needed * 2).min(3600 / STALL_CHECK.as_secs() as u32);
        true
    }
}

/// The partitions of `topics` that this member does not hold and that lag the end of their
/// topic, with the group's committed offset of each (blocking calls to the broker).
fn unconsumed(
    consumer: &StreamConsumer,
    topics: &[String],
) -> anyhow::Result<Vec<(String, i32, i64)>> {
    const TIMEOUT: Duration = Duration::from_secs(5);
    let held: HashSet<(String, i32)> = consumer
        .assignment()?
        .elements()
        .iter()
        .map(|e| (e.topic().to_owned(), e.partition()))
        .collect();
    let mut others = TopicPartitionList::new();
    for topic in topics {
        let metadata = consumer.fetch_metadata(Some(topic), TIMEOUT)?;
        for found in metadata.topics() {
            for partition in found.partitions() {
                if !held.contains(&(topic.clone(), partition.id())) {
                    others.add_partition(topic, partition.id());
                }
            }
        }
    }
    if others.count() == 0 {
        return Ok(Vec::new());
    }
    let committed = consumer.committed_offsets(others, TIMEOUT)?;
    let mut waiting = Vec::new();
    for element in committed.elements() {
        let (low, high) =
            consumer.fetch_watermarks(element.topic(), element.partition(), TIMEOUT)?;
        let at = match element.offset() {
            Offset::Offset(at) => at.max(low),
            _ => low,
        };
        if high > at {
            waiting.push((element.topic().to_owned(), element.partition(), at));
        }
    }
    Ok(waiting)
}

/// Retries a batch until it is applied (or the projector is stopped): its offsets are not
/// stored before, so nothing is skipped.
async fn apply_until_done(
    projector: &dyn Subscriber,
    events: &[StoredEvent],
    cancel: &CancellationToken,
) {
    let mut backoff = Backoff::default();
    loop {
        match projector.apply(events).await {
            Ok(_) => return,
            Err(e) => {
                let wait = backoff.next_wait();
                tracing::error!(error = %e, backoff_ms = wait.as_millis() as u64, "batch not applied; retrying");
                tokio::select! {
                    () = cancel.cancelled() => return,
                    () = tokio::time::sleep(wait) => {}
                }
            }
        }
    }
}
