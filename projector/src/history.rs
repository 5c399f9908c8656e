//! Movie histories the read database lacks, filled from the event store in the background
//! when a projector starts.
//!
//! The projector writes every movie event into its movie's history as it applies it, so
//! histories are complete unless the read database lost rows: a new read database that a
//! rebuild filled (a rebuild swaps the read models, not the histories, which only ever grow),
//! or one made before histories existed. A rebuild leaves them to this, instead of writing a
//! row per event on its own path: on this machine that cost a fifth of the rebuild's rate on
//! SQLite and more than half on MySQL.

use crate::Projector;
use moviedb_domain::movie::Movie;
use moviedb_domain::Aggregate;
use moviedb_event_store::StoredEvent;
use std::collections::HashMap;
use uuid::Uuid;

/// Movies read per page of the read models' versions.
const PAGE: u32 = 1_000;
/// Above this many movies behind, one pass over the whole log beats a read per stream.
const PER_STREAM_AT_MOST: usize = 500;
/// Events read per round of that pass.
const BATCH: u32 = 10_000;

/// Writes into the histories every movie event the read models applied and the histories
/// lack; how many movies were behind.
pub async fn backfill(projector: &Projector) -> anyhow::Result<u64> {
    let read = projector.read_models();
    let heads = read.history_heads().await?;
    let mut behind: HashMap<Uuid, u64> = HashMap::new();
    let mut after = None;
    loop {
        let page = read
            .stream_versions(Movie::STREAM_TYPE, after, PAGE)
            .await?;
        let Some(&(last, _)) = page.last() else {
            break;
        };
        for (id, version) in page {
            let have = heads.get(&id).copied().unwrap_or(0);
            if version > have {
                behind.insert(id, have);
            }
        }
        after = Some(last);
    }
    if behind.is_empty() {
        return Ok(0);
    }
    let store = projector.store();
    let lacking = |e: &&StoredEvent| {
        behind
            .get(&e.stream_id)
            .is_some_and(|&have| e.version > have)
    };
    if behind.len() <= PER_STREAM_AT_MOST {
        for id in behind.keys() {
            let events = store.read_stream(*id).await?;
            let missing: Vec<&StoredEvent> = events.iter().filter(lacking).collect();
            read.record_history(&missing).await?;
        }
    } else {
        let mut position = 0;
        loop {
            let events = store.read_all(position, BATCH).await?;
            let Some(last) = events.last().map(|e| e.position) else {
                break;
            };
            let missing: Vec<&StoredEvent> = events.iter().filter(lacking).collect();
            if !missing.is_empty() {
                read.record_history(&missing).await?;
            }
            position = last;
        }
    }
    Ok(behind.len() as u64)
}
