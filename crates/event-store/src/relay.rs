//! The outbox feed of a MySQL event store: publishes pending events to a [`Sink`] and deletes
//! their outbox rows only after the sink acknowledged them. One active relay per database
//! (MySQL `GET_LOCK`), so any number of command-api instances can run it.

use crate::feed::{woken, Sink};
use crate::retry::Backoff;
use crate::MySqlOutbox;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Events relayed per round.
const BATCH: u32 = 500;
/// How often to look without being woken, for appends made by other processes: with two
/// command APIs behind the gateway, half the writes land on the one that is not the relay, and
/// at 200 ms they waited 100 ms on average before being relayed (write -> readable by token
/// through the gateway took 150 ms). A look is one indexed `SELECT ... LIMIT` on the outbox.
const IDLE_POLL: Duration = Duration::from_millis(10);
/// How often a relay that is not the active one tries to take over.
const STANDBY_POLL: Duration = Duration::from_secs(2);

/// Relays until `cancel` fires. `wake` ticks after appends made in this process.
pub async fn run(
    outbox: MySqlOutbox,
    sink: impl Sink,
    mut wake: watch::Receiver<u64>,
    cancel: CancellationToken,
) {
    let mut backoff = Backoff::default();
    'standby: loop {
        let mut lock = match outbox.try_lock().await {
            Ok(Some(lock)) => {
                tracing::info!("outbox relay active");
                lock
            }
            Ok(None) => {
                tracing::debug!("another relay is active; standing by");
                tokio::select! {
                    () = cancel.cancelled() => return,
                    () = tokio::time::sleep(STANDBY_POLL) => continue 'standby,
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot take the relay lock; retrying");
                // The database is away; a commit in this process says it is back.
                tokio::select! {
                    () = cancel.cancelled() => return,
                    () = woken(&mut wake, STANDBY_POLL) => continue 'standby,
                }
            }
        };
        loop {
            if cancel.is_cancelled() {
                return;
            }
            wake.borrow_and_update();
            match relay_once(&outbox, &sink).await {
                Ok(0) => backoff.reset(),
                Ok(_) => {
                    backoff.reset();
                    continue;
                }
                Err(e) => {
                    let wait = backoff.next_wait();
                    tracing::warn!(error = %e, backoff_ms = wait.as_millis() as u64,
                        "relay failed; the events stay in the outbox and are retried");
                    // A commit meanwhile says the database is back: try again then.
                    tokio::select! {
                        () = cancel.cancelled() => return,
                        () = woken(&mut wake, wait) => {}
                    }
                    if !lock.held().await {
                        tracing::warn!("relay lock lost; standing by");
                        continue 'standby;
                    }
                    continue;
                }
            }
            tokio::select! {
                () = cancel.cancelled() => return,
                () = woken(&mut wake, IDLE_POLL) => {}
            }
            if !lock.held().await {
                tracing::warn!("relay lock lost; standing by");
                continue 'standby;
            }
        }
    }
}

/// Publishes one batch of pending events and deletes their rows; how many there were.
pub async fn relay_once(outbox: &MySqlOutbox, sink: &impl Sink) -> anyhow::Result<usize> {
    let events = outbox.pending(BATCH).await?;
    if events.is_empty() {
        return Ok(0);
    }
    sink.publish(&events).await?;
    let positions: Vec<i64> = events.iter().map(|e| e.position).collect();
    outbox.remove(&positions).await?;
    Ok(events.len())
}
