//! What the projector has done, and how far behind the writes it is.

use chrono::Utc;
use moviedb_event_store::StoredEvent;
use moviedb_read_model::ApplyReport;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use tokio::sync::watch;

/// Counters shared between the projector and whoever reports them (`/metrics`, logs, tests).
#[derive(Debug)]
pub struct Stats {
    applied: AtomicU64,
    skipped: AtomicU64,
    dead_lettered: AtomicU64,
    gaps_repaired: AtomicU64,
    indexed: AtomicU64,
    batches: AtomicU64,
    /// Milliseconds from an event's commit to its batch being applied, for the last batch.
    last_lag_ms: AtomicI64,
    /// Ticks after every applied batch, so waiting readers re-check at once.
    progress: watch::Sender<u64>,
    /// Batches between the start of their read-model write and their queueing for the index.
    applying: AtomicU64,
    /// Index jobs queued, and how many of them are in the index.
    index_queued: AtomicU64,
    index_done: AtomicU64,
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            applied: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            dead_lettered: AtomicU64::new(0),
            gaps_repaired: AtomicU64::new(0),
            indexed: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            last_lag_ms: AtomicI64::new(0),
            progress: watch::Sender::new(0),
            applying: AtomicU64::new(0),
            index_queued: AtomicU64::new(0),
            index_done: AtomicU64::new(0),
        }
    }
}

/// Marks a batch as being applied until dropped (see [`Stats::index_target`]).
pub(crate) struct Applying<'a>(&'a Stats);

impl Drop for Applying<'_> {
    fn drop(&mut self) {
        self.0.applying.fetch_sub(1, Ordering::SeqCst);
        self.0.tick();
    }
}

/// A copy of the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Events that changed the read models.
    pub applied: u64,
    /// Duplicates skipped.
    pub skipped: u64,
    /// Events moved to the dead-letter table.
    pub dead_lettered: u64,
    /// Gaps filled from the event store.
    pub gaps_repaired: u64,
    /// Search documents written (stale writes refused by the index not counted).
    pub indexed: u64,
    /// Batches applied.
    pub batches: u64,
    /// Commit-to-visible time of the newest event of the last batch, in milliseconds.
    pub last_lag_ms: i64,
}

impl Stats {
    fn tick(&self) {
        self.progress.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Held from before a batch's read-model write until it is queued for the index.
    pub(crate) fn applying(&self) -> Applying<'_> {
        self.applying.fetch_add(1, Ordering::SeqCst);
        Applying(self)
    }

    /// One more index job queued; its number.
    pub(crate) fn index_queued(&self) -> u64 {
        self.index_queued.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Index jobs up to `seq` are in the index.
    pub(crate) fn index_done(&self, seq: u64) {
        self.index_done.fetch_max(seq, Ordering::SeqCst);
        self.tick();
    }

    /// The index job that covers everything the read models hold now, or `None` while a batch
    /// is between its read-model commit and its queueing (wait for [`Stats::progress`] and ask
    /// again). Once [`Stats::index_reached`] that job, a search shows what a read did before.
    pub fn index_target(&self) -> Option<u64> {
        (self.applying.load(Ordering::SeqCst) == 0)
            .then(|| self.index_queued.load(Ordering::SeqCst))
    }

    /// Index jobs queued so far.
    pub(crate) fn index_jobs(&self) -> u64 {
        self.index_queued.load(Ordering::SeqCst)
    }

    /// Whether index job `target` is done.
    pub fn index_reached(&self, target: u64) -> bool {
        self.index_done.load(Ordering::SeqCst) >= target
    }

    pub(crate) fn record(&self, report: &ApplyReport, batch: &[StoredEvent]) {
        self.applied.fetch_add(report.applied, Ordering::Relaxed);
        self.skipped.fetch_add(report.skipped, Ordering::Relaxed);
        let batches = self.batches.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(newest) = batch.iter().map(|e| e.recorded_at).max() {
            let lag_ms = (Utc::now() - newest).num_milliseconds().max(0);
            self.last_lag_ms.store(lag_ms, Ordering::Relaxed);
            tracing::debug!(
                projection.lag_ms = lag_ms,
                events.applied = report.applied,
                events.skipped = report.skipped,
                "batch applied"
            );
            if batches % 100 == 1 {
                tracing::info!(projection.lag_ms = lag_ms, batches, "projection lag");
            }
        }
        self.progress.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub(crate) fn dead_lettered(&self) {
        self.dead_lettered.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn gap_repaired(&self) {
        self.gaps_repaired.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn indexed(&self, documents: u64) {
        self.indexed.fetch_add(documents, Ordering::Relaxed);
    }

    /// A receiver that changes after every applied batch.
    pub fn progress(&self) -> watch::Receiver<u64> {
        self.progress.subscribe()
    }

    /// The counters now.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            applied: self.applied.load(Ordering::Relaxed),
            skipped: self.skipped.load(Ordering::Relaxed),
            dead_lettered: self.dead_lettered.load(Ordering::Relaxed),
            gaps_repaired: self.gaps_repaired.load(Ordering::Relaxed),
            indexed: self.indexed.load(Ordering::Relaxed),
            batches: self.batches.load(Ordering::Relaxed),
            last_lag_ms: self.last_lag_ms.load(Ordering::Relaxed),
        }
    }

    /// The counters for `/metrics`: name, help, total.
    pub fn counters(&self) -> [(&'static str, &'static str, u64); 6] {
        let s = self.snapshot();
        [
            (
                "moviedb_projector_events_applied_total",
                "Events that changed the read models.",
                s.applied,
            ),
            (
                "moviedb_projector_events_skipped_total",
                "Events skipped as duplicates.",
                s.skipped,
            ),
            (
                "moviedb_projector_dead_letters_total",
                "Events set aside as dead letters by this process.",
                s.dead_lettered,
            ),
            (
                "moviedb_projector_gaps_repaired_total",
                "Gaps in a stream filled from the event store.",
                s.gaps_repaired,
            ),
            (
                "moviedb_projector_documents_indexed_total",
                "Search documents written.",
                s.indexed,
            ),
            (
                "moviedb_projector_batches_total",
                "Batches applied.",
                s.batches,
            ),
        ]
    }
}
