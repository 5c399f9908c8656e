//! The embedded feed: tails the SQLite event table by position.
//!
//! Only SQLite may be tailed this way: it serialises writers, so positions commit in order.
//! (MySQL's AUTO_INCREMENT does not; there the outbox is the feed.) The checkpoint is stored
//! with each batch, in the same transaction.

use crate::Projector;
use moviedb_event_store::feed::woken;
use moviedb_read_model::Checkpoint;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// The checkpoint name of this feed.
pub const CHECKPOINT: &str = "embedded";

/// Events read per batch while the feed keeps up: a write waits for its batch, so small.
const BATCH: u32 = 500;

/// The most events read per batch while the feed is behind (an import, a start after
/// writes made by another process): the read models' indexes are written page by page, and
/// a page holds the rows of many movies, so the fewer commits the fewer times each page is
/// written (200 000 movies stored by `moviedb import` were listed 51 s after a start with
/// batches of 500, 16 s with these and the index writer's larger commits).
const CATCH_UP_BATCH: u32 = 20_000;

/// How often to look without being woken: for writes made by another process (the CLI, a
/// second server on the same file).
const IDLE_POLL: Duration = Duration::from_millis(500);

/// Tails the event store into the read models until `cancel` fires. `wake` ticks after every
/// append made in this process, so those reach readers at once.
pub async fn run(
    projector: Projector,
    mut wake: watch::Receiver<u64>,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    let mut position = projector
        .read_models()
        .checkpoint(CHECKPOINT)
        .await?
        .unwrap_or(0);
    tracing::info!(position, "embedded feed started");
    let mut backoff = moviedb_sql_kit::Backoff::default();
    let mut batch = BATCH;
    loop {
        // Mark the wake-up as seen before reading, so an append during the read is not missed.
        wake.borrow_and_update();
        match step(&projector, position, batch).await {
            Ok(Some((last, read))) => {
                position = last;
                backoff.reset();
                // A full batch says there is more: read more at once, up to a bound.
                batch = if read >= batch {
                    (batch * 4).min(CATCH_UP_BATCH)
                } else {
                    BATCH
                };
                continue;
            }
            Ok(None) => {
                backoff.reset();
                batch = BATCH;
            }
            Err(e) => {
                let wait = backoff.next_wait();
                tracing::error!(error = %e, position, backoff_ms = wait.as_millis() as u64, "embedded feed failed; retrying");
                tokio::select! {
                    () = cancel.cancelled() => break,
                    // A commit meanwhile says the database is back: try again then.
                    () = woken(&mut wake, wait) => continue,
                }
            }
        }
        tokio::select! {
            () = cancel.cancelled() => break,
            () = woken(&mut wake, IDLE_POLL) => {}
        }
    }
    tracing::info!(position, "embedded feed stopped");
    Ok(())
}

/// Applies the next batch of at most `batch` events after `position`; the new position and
/// how many events were read, or `None` when caught up.
pub async fn step(
    projector: &Projector,
    position: i64,
    batch: u32,
) -> anyhow::Result<Option<(i64, u32)>> {
    let events = projector.store().read_all(position, batch).await?;
    let Some(last) = events.last().map(|e| e.position) else {
        return Ok(None);
    };
    projector
        .handle(
            &events,
            Some(&Checkpoint {
                name: CHECKPOINT.into(),
                position: last,
            }),
        )
        .await?;
    Ok(Some((last, events.len() as u32)))
}
