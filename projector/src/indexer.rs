//! The search side of the projector, off the feed's path.
//!
//! A commit of the tantivy index costs milliseconds whatever its size, so the read models do
//! not wait for it: after each batch is committed to the read models, its movies are queued
//! here, and one task writes them to the index from the read models, taking everything queued
//! meanwhile in one go, at most one index commit per [`COMMIT_INTERVAL`] (a commit of a tantivy
//! index costs about the same for one movie as for thousands; Elasticsearch's own default
//! refresh interval is a second). If the process stops with work queued, the movies are
//! brought up to date at the next start (the index is compared with the read models, see
//! [`crate::index::reconcile`]); the analysts' records of those events come back with the
//! next `moviedb rebuild`, which records every event again. A search with a
//! `Consistency-Token` waits for the index.

use crate::{index, Stats};
use moviedb_read_model::ReadModelWriter;
use moviedb_search::{EventDocument, SearchIndex};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use uuid::Uuid;

/// The least time between two writes of the index: under load, work queued meanwhile is
/// written in one go. A lone write is indexed at once.
pub const COMMIT_INTERVAL: Duration = Duration::from_millis(100);

/// The most movies written to the index in one commit.
const WRITE_CHUNK: usize = 20_000;

struct Job {
    seq: u64,
    movies: Vec<Uuid>,
    documents: Vec<EventDocument>,
}

/// Queues index work for the task [`Indexer::spawn`] started.
pub(crate) struct Indexer {
    jobs: mpsc::UnboundedSender<Job>,
    stats: Arc<Stats>,
    /// Whether the index keeps event documents (see [`SearchIndex::records_events`]).
    records_events: bool,
}

impl Indexer {
    /// Starts the task writing `search` from `read`; it stops once the indexer is dropped.
    pub(crate) fn spawn(
        read: Arc<dyn ReadModelWriter>,
        search: Arc<dyn SearchIndex>,
        stats: Arc<Stats>,
    ) -> Self {
        let (jobs, queue) = mpsc::unbounded_channel();
        let records_events = search.records_events();
        tokio::spawn(run(read, search, stats.clone(), queue));
        Self {
            jobs,
            stats,
            records_events,
        }
    }

    /// Whether event documents are worth building: at 100 000 movies, building and queueing
    /// them for an index that drops them was the largest peak of the heap.
    pub(crate) fn records_events(&self) -> bool {
        self.records_events
    }

    /// Queues `movies` (to be written from the read models) and `documents` (analytics).
    pub(crate) fn enqueue(&self, movies: Vec<Uuid>, documents: Vec<EventDocument>) {
        if movies.is_empty() && documents.is_empty() {
            return;
        }
        let seq = self.stats.index_queued();
        // The task ends only when this sender is dropped.
        let _ = self.jobs.send(Job {
            seq,
            movies,
            documents,
        });
    }

    /// Returns once everything queued before the call is in the index.
    pub(crate) async fn flushed(&self) {
        let target = self.stats.index_jobs();
        let mut progress = self.stats.progress();
        while !self.stats.index_reached(target) {
            // The sender lives in `stats`, which this holds: `changed` cannot fail here.
            if progress.changed().await.is_err() {
                return;
            }
        }
    }
}

async fn run(
    read: Arc<dyn ReadModelWriter>,
    search: Arc<dyn SearchIndex>,
    stats: Arc<Stats>,
    mut queue: mpsc::UnboundedReceiver<Job>,
) {
    let mut last: Option<Instant> = None;
    while let Some(first) = queue.recv().await {
        let mut job = first;
        if let Some(last) = last {
            tokio::time::sleep_until(last + COMMIT_INTERVAL).await;
        }
        absorb(&mut job, &mut queue);
        last = Some(Instant::now());
        let mut backoff = moviedb_sql_kit::Backoff::default();
        let mut failures = 0u32;
        loop {
            job.movies.sort_unstable();
            job.movies.dedup();
            match write(read.as_ref(), search.as_ref(), &job).await {
                Ok(indexed) => {
                    stats.indexed(indexed);
                    break;
                }
                Err(e) => {
                    failures += 1;
                    let wait = backoff.next_wait();
                    tracing::warn!(error = %e, failures, backoff_ms = wait.as_millis() as u64,
                        movies = job.movies.len(), "cannot write the search index yet; retrying");
                    tokio::time::sleep(wait).await;
                    absorb(&mut job, &mut queue);
                }
            }
        }
        stats.index_done(job.seq);
    }
}

/// Adds everything queued meanwhile to `job`.
fn absorb(job: &mut Job, queue: &mut mpsc::UnboundedReceiver<Job>) {
    while let Ok(more) = queue.try_recv() {
        job.seq = more.seq;
        job.movies.extend(more.movies);
        job.documents.extend(more.documents);
    }
}

async fn write(
    read: &dyn ReadModelWriter,
    search: &dyn SearchIndex,
    job: &Job,
) -> Result<u64, crate::ProjectorError> {
    // The movies are read 500 at a time and written in one commit per [`WRITE_CHUNK`]: a
    // commit makes a segment, and every segment is merged again later (while the feed caught
    // up on an import, one commit per 500 movies spent more on merging than on indexing).
    let (mut indexed, mut ops) = (0, Vec::new());
    for (n, chunk) in job.movies.chunks(500).enumerate() {
        let versions = read.versions(chunk).await?;
        ops.extend(index::behind(read, search, chunk, &versions).await?);
        let last = (n + 1) * 500 >= job.movies.len();
        if !ops.is_empty() && (ops.len() >= WRITE_CHUNK || last) {
            indexed += search.apply(std::mem::take(&mut ops)).await?.applied;
        }
    }
    if !job.documents.is_empty() {
        search.record(&job.documents).await?;
    }
    Ok(indexed)
}
