//! The outbox feed of a MySQL event store: publishes pending events to a [`Sink`] and deletes
//! their outbox rows only after the sink acknowledged them. One active relay per database
//! (MySQL `GET_LOCK`), so any number of command-api instances can run it.

use crate::feed::{woken, Sink};
use crate::MySqlOutbox;
use moviedb_sql_kit::Backoff;
use std::time::{Duration, Instant};
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
/// How often the active relay asks MySQL whether it still holds the lock. It asked after
/// every round, and idle after every look (100 times a second). A relay whose connection was
/// lost can go on publishing for this long beside the one that took over: both publish from
/// the outbox in position order, and the projections skip what they already applied, so
/// that costs duplicates, never order.
const LOCK_CHECK: Duration = Duration::from_millis(200);
/// Under load (a round of at least [`BUSY`] events), the shortest time from the start of one
/// round to the next. Each round costs the projector a commit and an fsync, and the outbox
/// delete another, whatever its size: rounds that came as fast as the database answered
/// carried half as many events each and cost MariaDB about a tenth more CPU per add. A
/// lightly loaded relay (rounds of fewer events) goes on at once, so a lone write waits for
/// nothing.
const BUSY_ROUND: Duration = Duration::from_millis(12);
const BUSY: usize = 8;

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
        let mut checked = Instant::now();
        loop {
            if cancel.is_cancelled() {
                return;
            }
            // Ticks from here on (appends committed during the round) wake the next one.
            wake.borrow_and_update();
            let round = Instant::now();
            let busy = match relay_once(&outbox, &sink).await {
                // A full batch: more may wait, look again at once.
                Ok(n) if n == BATCH as usize => {
                    backoff.reset();
                    continue;
                }
                // Fewer: the outbox held no more when read. An append since is a tick, and a
                // tick ends the wait below at once (after the busy pause, under load).
                Ok(n) => {
                    backoff.reset();
                    n >= BUSY
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
                    checked = Instant::now();
                    if !lock.held().await {
                        tracing::warn!("relay lock lost; standing by");
                        continue 'standby;
                    }
                    continue;
                }
            };
            tokio::select! {
                () = cancel.cancelled() => return,
                () = woken(&mut wake, IDLE_POLL) => {}
            }
            if let Some(rest) = BUSY_ROUND.checked_sub(round.elapsed()).filter(|_| busy) {
                tokio::select! {
                    () = cancel.cancelled() => return,
                    () = tokio::time::sleep(rest) => {}
                }
            }
            if checked.elapsed() >= LOCK_CHECK {
                checked = Instant::now();
                if !lock.held().await {
                    tracing::warn!("relay lock lost; standing by");
                    continue 'standby;
                }
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
