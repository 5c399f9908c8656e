//! Rebuild: replay the whole event store into shadow tables, swap them in, catch up.
//!
//! Readers keep reading the live tables until the swap, which is atomic. Events appended
//! during the rebuild are applied by the live projector to the old tables and, after the
//! swap, by the catch-up here to the new ones (applying is idempotent, so an event both see is
//! applied once). The catch-up compares every stream's version in the read models with its
//! head in the event store, rather than reading on by position: on MySQL positions are not in
//! commit order, so an event committed late with a low position would be missed.

use crate::{index, Projector};
use moviedb_event_store::EventStore;
use moviedb_read_model::ReadModels;
use moviedb_search::SearchIndex;
use std::sync::Arc;

/// Events read per step.
const BATCH: u32 = 1000;

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
/// The new index is swapped in just before the new tables. A serving projector writes each
/// batch to the index before the read models, so what it applies in between lands in the new
/// index and then in the old tables, and the catch-up brings the new tables there; the final
/// reconcile writes again any document the index still holds older than the read models.
pub async fn rebuild(
    store: Arc<dyn EventStore>,
    live: Arc<dyn ReadModels>,
    search: Option<Arc<dyn SearchIndex>>,
    progress: impl Fn(u64, u64),
) -> anyhow::Result<Rebuilt> {
    let total = u64::try_from(store.head_position().await?).unwrap_or(0);
    let shadow = Projector::new(live.begin_rebuild().await?, store.clone());
    let shadow = match &search {
        Some(search) => shadow.with_search(search.begin_rebuild().await?),
        None => shadow,
    };
    let replayed = replay(&shadow, |done| progress(done, total.max(done))).await?;
    shadow.index_flushed().await;
    drop(shadow);
    let mut projector = Projector::new(live.clone(), store);
    if let Some(search) = search {
        search.finish_rebuild().await?;
        projector = projector.with_search(search);
    }
    live.finish_rebuild().await?;
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

async fn replay(projector: &Projector, progress: impl Fn(u64)) -> anyhow::Result<u64> {
    let (mut position, mut done) = (0, 0u64);
    loop {
        let events = projector.store().read_all(position, BATCH).await?;
        let Some(last) = events.last().map(|e| e.position) else {
            return Ok(done);
        };
        projector.handle(&events, None).await?;
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
    for chunk in heads.chunks(500) {
        let ids: Vec<_> = chunk.iter().map(|(id, _)| *id).collect();
        let applied = projector.read_models().versions(&ids).await?;
        for (id, head) in chunk {
            let have = applied.get(id).copied().unwrap_or(0);
            if have < *head {
                let events: Vec<_> = projector
                    .store()
                    .read_stream(*id)
                    .await?
                    .into_iter()
                    .filter(|e| e.version > have)
                    .collect();
                projector.handle(&events, None).await?;
                behind += 1;
            }
        }
    }
    Ok(behind)
}
