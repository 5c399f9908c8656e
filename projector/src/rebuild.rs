//! Rebuild: replay the whole event store into shadow tables, swap them in, catch up.
//!
//! The replay folds the log in memory, stream by stream (see `moviedb_read_model::Fold`), and
//! writes each stream's final row once, in bulk, and each movie's document once: a few
//! statements per stream rather than per event. Memory grows with the number of streams, not
//! of events (a few hundred bytes each).
//!
//! Readers keep reading the live tables until the swap, which is atomic. Events appended
//! during the rebuild are applied by the live projector to the old tables and, after the
//! swap, by the catch-up here to the new ones (applying is idempotent, so an event both see is
//! applied once). The catch-up compares every stream's version in the read models with its
//! head in the event store, rather than reading on by position: on MySQL positions are not in
//! commit order, so an event committed late with a low position would be missed.

use crate::{index, Projector};
use moviedb_event_store::{EventStore, StoredEvent};
use moviedb_read_model::{Fold, FoldedStream, ReadModelWriter};
use moviedb_search::SearchIndex;
use std::sync::Arc;

/// Events read per step.
const BATCH: u32 = 10_000;

/// What a rebuild did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rebuilt {
    /// Events replayed into the shadow tables.
    pub replayed: u64,
    /// Streams found behind the event store after the swap, and brought up to date.
    pub caught_up: u64,
    /// Search documents found behind the read models after the swap, and written again.
    pub reindexed: u64,
}

/// Rebuilds `live` (and `search`, if given) from `store`. `progress(done, total)` is called
/// after every batch; `total` is the head position when the rebuild started, an estimate of
/// the event count.
///
/// The new index is swapped in just before the new tables. What a serving projector applies
/// meanwhile lands in the old tables (and in whichever index its indexer writes); the
/// catch-up brings the new tables up to the event store, and the final reconcile writes again
/// any document the new index holds older than the read models.
pub async fn rebuild(
    store: Arc<dyn EventStore>,
    live: Arc<dyn ReadModelWriter>,
    search: Option<Arc<dyn SearchIndex>>,
    progress: impl Fn(u64, u64),
) -> anyhow::Result<Rebuilt> {
    let total = u64::try_from(store.head_position().await?).unwrap_or(0);
    let shadow = live.begin_rebuild().await?;
    let shadow_index = match &search {
        Some(search) => Some(search.begin_rebuild().await?),
        None => None,
    };
    let started = std::time::Instant::now();
    let (replayed, streams, rejected) = fold(store.as_ref(), shadow_index.as_deref(), |done| {
        progress(done, total.max(done))
    })
    .await?;
    let folded = started.elapsed();
    shadow.load(&streams).await?;
    let loaded = started.elapsed();
    for (event, reason) in &rejected {
        tracing::error!(event.id = %event.event_id, stream.id = %event.stream_id,
            event.version = event.version, error = %reason,
            "event cannot be applied; moved to the dead-letter table");
        shadow.dead_letter(event, reason).await?;
    }
    if let Some(index) = &shadow_index {
        // The documents of one chunk of streams at a time: not a second copy of the catalogue.
        for chunk in streams.chunks(INDEX_CHUNK) {
            index.apply(index::documents(chunk)).await?;
        }
    }
    let indexed = started.elapsed();
    tracing::info!(
        streams = streams.len(),
        fold_ms = folded.as_millis() as u64,
        load_ms = (loaded - folded).as_millis() as u64,
        index_ms = (indexed - loaded).as_millis() as u64,
        "replayed into the shadow tables and index"
    );
    drop(streams);
    let mut projector = Projector::new(live.clone(), store);
    if let Some(search) = search {
        search.finish_rebuild().await?;
        projector = projector.with_search(search);
    }
    live.finish_rebuild().await?;
    tracing::info!(
        swap_ms = (started.elapsed() - indexed).as_millis() as u64,
        "the shadow tables indexed and swapped in"
    );
    let caught_up = catch_up(&projector).await?;
    projector.index_flushed().await;
    let reindexed = match projector.search() {
        Some(search) => index::reconcile(live.as_ref(), search.as_ref()).await?,
        None => 0,
    };
    tracing::info!(
        replayed,
        caught_up,
        reindexed,
        "read models and index rebuilt and swapped in"
    );
    Ok(Rebuilt {
        replayed,
        caught_up,
        reindexed,
    })
}

/// Streams whose documents are written per call (one index commit each) while rebuilding: a
/// commit makes a segment and the segments are merged as they pile up, so at 1 000 000 movies
/// commits of 10 000 spent more on merging than on indexing.
const INDEX_CHUNK: usize = 200_000;

/// Reads the whole event log by position and folds it, stream by stream, in memory. Each
/// stream's events are in version order by position on both stores (a stream's next event is
/// appended only after the one before it committed). Every event is recorded for analysts
/// again on the way (a create by event id: those already there stay as they are), which also
/// fills in any the live indexer had queued when its process stopped. (The movies' histories
/// are not swapped and not written here: see [`crate::history`].)
async fn fold(
    store: &dyn EventStore,
    index: Option<&dyn SearchIndex>,
    progress: impl Fn(u64),
) -> anyhow::Result<(u64, Vec<FoldedStream>, Vec<(StoredEvent, String)>)> {
    let mut folded = Fold::default();
    let (mut position, mut done) = (0, 0u64);
    loop {
        let events = store.read_all(position, BATCH).await?;
        let Some(last) = events.last().map(|e| e.position) else {
            let (streams, rejected) = folded.finish();
            return Ok((done, streams, rejected));
        };
        for event in &events {
            folded.add(event);
        }
        if let Some(index) = index.filter(|i| i.records_events()) {
            let documents = index::event_documents(&events, &std::collections::HashMap::new());
            index.record(&documents).await?;
        }
        done += events.len() as u64;
        position = last;
        progress(done);
    }
}

/// Brings every stream the read models hold at an older version than the event store up to
/// date; how many there were.
pub async fn catch_up(projector: &Projector) -> anyhow::Result<u64> {
    let heads = projector.store().stream_heads().await?;
    let mut behind = 0;
    for chunk in heads.chunks(CATCH_UP_CHUNK) {
        let ids: Vec<_> = chunk.iter().map(|(id, _)| *id).collect();
        let applied = projector.read_models().versions(&ids).await?;
        // The streams behind are read a few at a time and applied together: after a feed
        // lost part of a long run, thousands may be behind.
        let mut reads = tokio::task::JoinSet::new();
        let mut events = Vec::new();
        for (id, head) in chunk {
            let have = applied.get(id).copied().unwrap_or(0);
            if have >= *head {
                continue;
            }
            behind += 1;
            if reads.len() >= CATCH_UP_READS {
                events.extend(next_stream(&mut reads).await?.into_iter().flatten());
            }
            let (store, id) = (projector.store().clone(), *id);
            reads.spawn(async move {
                let stream = store.read_stream(id).await?;
                Ok::<_, anyhow::Error>(
                    stream
                        .into_iter()
                        .filter(|e| e.version > have)
                        .collect::<Vec<_>>(),
                )
            });
        }
        while !reads.is_empty() {
            events.extend(next_stream(&mut reads).await?.into_iter().flatten());
        }
        if !events.is_empty() {
            projector.handle(&events, None).await?;
        }
    }
    Ok(behind)
}

/// Streams compared (and at most applied) per step of [`catch_up`].
const CATCH_UP_CHUNK: usize = 500;
/// Streams read from the event store at once by [`catch_up`].
const CATCH_UP_READS: usize = 8;

async fn next_stream<T: 'static>(
    reads: &mut tokio::task::JoinSet<anyhow::Result<T>>,
) -> anyhow::Result<Option<T>> {
    match reads.join_next().await {
        Some(read) => Ok(Some(read??)),
        None => Ok(None),
    }
}
