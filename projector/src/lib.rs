//! The projector: turns events into read models, whatever feed brings them.
//!
//! Feeds deliver at least once and keep order only within a stream. [`Projector::handle`]
//! makes that safe: duplicates are skipped by version, a gap is filled from the event store,
//! and an event that cannot be applied goes to the dead-letter table instead of stopping
//! everything. Feeds: [`tail`] (the SQLite event table, embedded), the event store's outbox
//! relay (MySQL's outbox, to a [`Sink`]: Kafka, or the projector itself) and, in
//! `moviedb-kafka`, a Kafka consumer group handing batches to the projector as a
//! [`Subscriber`].

pub mod history;
pub mod index;
mod indexer;
pub mod rebuild;
pub mod service;
mod stats;
pub mod sweep;
pub mod tail;

pub use service::run;
pub use stats::{Stats, StatsSnapshot};

use moviedb_domain::movie::Movie;
use moviedb_domain::Aggregate;
use moviedb_event_store::{EventStore, StoreError, StoredEvent};
use moviedb_read_model::{ApplyReport, Checkpoint, ReadModelError, ReadModelWriter};
use moviedb_search::{SearchError, SearchIndex};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use uuid::Uuid;

/// Why a batch was not applied. The feed keeps its position and retries.
#[derive(Debug, thiserror::Error)]
pub enum ProjectorError {
    /// The read models failed.
    #[error(transparent)]
    ReadModel(#[from] ReadModelError),
    /// The event store (needed to fill gaps) failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The search index failed.
    #[error(transparent)]
    Search(#[from] SearchError),
}

/// Applies batches of events to the read models.
#[derive(Clone)]
pub struct Projector {
    read: Arc<dyn ReadModelWriter>,
    store: Arc<dyn EventStore>,
    search: Option<Arc<dyn SearchIndex>>,
    indexer: Option<Arc<indexer::Indexer>>,
    stats: Arc<Stats>,
}

use moviedb_event_store::feed::{Sink, Subscriber};

#[async_trait::async_trait]
impl Sink for Projector {
    async fn publish(&self, events: &[StoredEvent]) -> anyhow::Result<()> {
        self.handle(events, None).await?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl Subscriber for Projector {
    async fn apply(&self, events: &[StoredEvent]) -> anyhow::Result<()> {
        self.handle(events, None).await?;
        Ok(())
    }

    async fn catch_up(&self) -> anyhow::Result<u64> {
        rebuild::catch_up(self).await
    }
}

/// How often a batch is retried on a transient failure before the feed is told.
const TRANSIENT_RETRIES: u32 = 5;

impl Projector {
    /// A projector writing to `read`, filling gaps from `store`.
    pub fn new(read: Arc<dyn ReadModelWriter>, store: Arc<dyn EventStore>) -> Self {
        Self {
            read,
            store,
            search: None,
            indexer: None,
            stats: Arc::new(Stats::default()),
        }
    }

    /// Also projects movies into `search` (and every event into its analytics store), from a
    /// task of its own (see [`indexer`]); call within a Tokio runtime.
    pub fn with_search(mut self, search: Arc<dyn SearchIndex>) -> Self {
        self.indexer = Some(Arc::new(indexer::Indexer::spawn(
            self.read.clone(),
            search.clone(),
            self.stats.clone(),
        )));
        self.search = Some(search);
        self
    }

    /// The search index it writes, if any.
    pub fn search(&self) -> Option<&Arc<dyn SearchIndex>> {
        self.search.as_ref()
    }

    /// The read models it writes.
    pub fn read_models(&self) -> &Arc<dyn ReadModelWriter> {
        &self.read
    }

    /// The event store it repairs gaps from.
    pub fn store(&self) -> &Arc<dyn EventStore> {
        &self.store
    }

    /// Counters and lag, shared with whoever reports them.
    pub fn stats(&self) -> Arc<Stats> {
        self.stats.clone()
    }

    /// Applies `batch` (in any order across streams, with duplicates) and stores `checkpoint`
    /// in the same transaction. On `Ok` every event of the batch is in the read models or in
    /// the dead-letter table.
    #[tracing::instrument(skip_all, fields(events = batch.len()), err)]
    pub async fn handle(
        &self,
        batch: &[StoredEvent],
        checkpoint: Option<&Checkpoint>,
    ) -> Result<ApplyReport, ProjectorError> {
        let mut attempt = 0;
        let mut backoff = moviedb_sql_kit::Backoff::default();
        let mut dead: Vec<Uuid> = Vec::new();
        loop {
            let (events, applied) = self.prepare(batch, &dead).await?;
            let applying = self.stats.applying();
            match self.read.apply(&events, checkpoint).await {
                Ok(report) => {
                    self.stats.record(&report, batch);
                    self.index(&events, &applied);
                    drop(applying);
                    return Ok(report);
                }
                // Another writer moved the stream between `prepare` and `apply`: redo.
                Err(ReadModelError::Gap { .. }) if attempt < TRANSIENT_RETRIES => {}
                Err(ReadModelError::Rejected { event_id, reason }) => {
                    let event = events
                        .iter()
                        .find(|e| e.event_id == event_id)
                        .ok_or_else(|| ReadModelError::Corrupt(reason.clone()))?;
                    tracing::error!(
                        event.id = %event_id, stream.id = %event.stream_id,
                        event.version = event.version, error = %reason,
                        "event cannot be applied; moved to the dead-letter table"
                    );
                    self.read.dead_letter(event, &reason).await?;
                    self.stats.dead_lettered();
                    dead.push(event_id);
                    continue;
                }
                Err(e) if e.is_transient() && attempt < TRANSIENT_RETRIES => {
                    tracing::warn!(error = %e, attempt, "read models busy; retrying the batch");
                    tokio::time::sleep(backoff.next_wait()).await;
                }
                Err(e) => return Err(e.into()),
            }
            attempt += 1;
        }
    }

    /// After the read models committed the batch: queues its movies for the search index
    /// (written from the read models by the indexer task) and its events for analysts.
    fn index(&self, events: &[StoredEvent], applied: &HashMap<Uuid, u64>) {
        let Some(indexer) = &self.indexer else {
            return;
        };
        let movies: Vec<Uuid> = events
            .iter()
            .filter(|e| e.stream_type == Movie::STREAM_TYPE)
            .map(|e| e.stream_id)
            .collect();
        let documents = if indexer.records_events() {
            index::event_documents(events, applied)
        } else {
            Vec::new()
        };
        indexer.enqueue(movies, documents);
    }

    /// Returns once the search index holds everything handled before the call.
    pub async fn index_flushed(&self) {
        if let Some(indexer) = &self.indexer {
            indexer.flushed().await;
        }
    }

    /// Puts each stream's events in version order without duplicates, and fills any gap
    /// before them from the event store. Also gives the versions the read models held, of the
    /// streams whose events here do not start at version 1 (and of all of them when the
    /// analysts' documents are built): a stream that starts here cannot have a gap before, and
    /// a batch of adds then reads nothing before its transaction (whose own read of the
    /// versions skips whatever was applied already).
    async fn prepare(
        &self,
        batch: &[StoredEvent],
        dead: &[Uuid],
    ) -> Result<(Vec<StoredEvent>, HashMap<Uuid, u64>), ProjectorError> {
        let mut streams: HashMap<Uuid, BTreeMap<u64, &StoredEvent>> = HashMap::new();
        let mut order: Vec<Uuid> = Vec::new();
        for event in batch.iter().filter(|e| !dead.contains(&e.event_id)) {
            let versions = streams.entry(event.stream_id).or_insert_with(|| {
                order.push(event.stream_id);
                BTreeMap::new()
            });
            versions.entry(event.version).or_insert(event);
        }
        let every = self.indexer.as_ref().is_some_and(|i| i.records_events());
        let asked: Vec<Uuid> = order
            .iter()
            .copied()
            .filter(|id| every || streams[id].keys().next().is_some_and(|first| *first > 1))
            .collect();
        let applied = self.read.versions(&asked).await?;
        let mut events = Vec::with_capacity(batch.len());
        for stream_id in order {
            let versions = &streams[&stream_id];
            let have = applied.get(&stream_id).copied().unwrap_or(0);
            let first = versions.keys().next().copied().unwrap_or(0);
            let contiguous = versions
                .keys()
                .zip(first..)
                .all(|(version, expected)| *version == expected);
            if first <= have + 1 && contiguous {
                events.extend(versions.values().map(|e| (*e).clone()));
                continue;
            }
            // A gap: what the feed has not brought yet is in the event store.
            let last = versions.keys().next_back().copied().unwrap_or(0);
            let stored = self.store.read_stream(stream_id).await?;
            tracing::info!(
                stream.id = %stream_id, have, first, last,
                "gap in the feed; reading the stream from the event store"
            );
            self.stats.gap_repaired();
            events.extend(
                stored
                    .into_iter()
                    .filter(|e| e.version > have && e.version <= last)
                    .filter(|e| !dead.contains(&e.event_id)),
            );
        }
        Ok((events, applied))
    }
}
