//! The ports between the event store and what its events feed: a [`Sink`] takes what the
//! outbox relay publishes (Kafka, or the projector itself), a [`Subscriber`] takes what a
//! consumer reads (the projector, behind Kafka). Both retry with [`moviedb_sql_kit::Backoff`].

use crate::StoredEvent;
use async_trait::async_trait;
use std::time::Duration;
use tokio::sync::watch;

/// Where relayed events go: Kafka, or (on one machine without Kafka) the projector itself.
#[async_trait]
pub trait Sink: Send + Sync {
    /// Delivers the events, in order per stream; `Ok` means every one was acknowledged.
    async fn publish(&self, events: &[StoredEvent]) -> anyhow::Result<()>;
}

/// What a consumer of the event feed hands its records to: the projector.
#[async_trait]
pub trait Subscriber: Send + Sync {
    /// Applies a batch, in order per stream; `Ok` once it is durable.
    async fn apply(&self, events: &[StoredEvent]) -> anyhow::Result<()>;

    /// Brings every stream it holds at an older version than the event store up to date,
    /// for records the feed passed over; how many streams were behind.
    async fn catch_up(&self) -> anyhow::Result<u64>;
}

/// Completes when `wake` ticks, or after `idle` (also when nobody can tick it any more).
pub async fn woken(wake: &mut watch::Receiver<u64>, idle: Duration) {
    tokio::select! {
        changed = wake.changed() => if changed.is_err() {
            tokio::time::sleep(idle).await;
        },
        () = tokio::time::sleep(idle) => {}
    }
}
