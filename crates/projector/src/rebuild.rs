//! Rebuild: replay the whole event store into shadow tables, swap them in, catch up.
//!
//! Readers keep reading the live tables until the swap, which is atomic. Events appended
//! during the rebuild are applied by the live projector to the old tables and, after the
//! swap, by the catch-up pass here to the new ones (applying is idempotent, so an event both
//! passes see is applied once).

use crate::Projector;
use moviedb_event_store::EventStore;
use moviedb_read_model::ReadModels;
use std::sync::Arc;

/// Events read per step.
const BATCH: u32 = 1000;

/// What a rebuild did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rebuilt {
    /// Events replayed into the shadow tables.
    pub replayed: u64,
    /// Events applied after the swap.
    pub caught_up: u64,
}

/// Rebuilds `live` from `store`. `progress(done, total)` is called after every batch; `total`
/// is the head position when the rebuild started, an estimate of the event count.
pub async fn rebuild(
    store: Arc<dyn EventStore>,
    live: Arc<dyn ReadModels>,
    progress: impl Fn(u64, u64),
) -> anyhow::Result<Rebuilt> {
    let total = u64::try_from(store.head_position().await?).unwrap_or(0);
    let shadow = live.begin_rebuild().await?;
    let (position, replayed) = replay(&Projector::new(shadow, store.clone()), 0, |done| {
        progress(done, total.max(done))
    })
    .await?;
    live.finish_rebuild().await?;
    let (_, caught_up) = replay(&Projector::new(live, store), position, |_| {}).await?;
    tracing::info!(replayed, caught_up, "read models rebuilt and swapped in");
    Ok(Rebuilt {
        replayed,
        caught_up,
    })
}

async fn replay(
    projector: &Projector,
    mut position: i64,
    progress: impl Fn(u64),
) -> anyhow::Result<(i64, u64)> {
    let mut done = 0u64;
    loop {
        let events = projector.store().read_all(position, BATCH).await?;
        let Some(last) = events.last().map(|e| e.position) else {
            return Ok((position, done));
        };
        projector.handle(&events, None).await?;
        done += events.len() as u64;
        position = last;
        progress(done);
    }
}
