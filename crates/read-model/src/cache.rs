//! Movie reads served from memory, for a process whose projector writes the read models it
//! reads (the embedded default).
//!
//! A detail or a list page from SQLite costs tens of microseconds in the driver alone; from
//! memory it costs a hash lookup. The cache is exact for writes made through it: every batch
//! the projector hands to [`ReadModels::apply`] drops the entries of its streams (applied or
//! skipped as duplicates, so a second process applying them first changes nothing) and every
//! cached list page. The one other writer of these tables, a `moviedb rebuild` run as another
//! process, counts its swap in `projection_checkpoints` ([`crate::REBUILDS`]); a watcher reads
//! that count every [`WATCH`] and drops everything when it moves. Reads with a
//! `Consistency-Token` wait on [`ReadModels::versions`], which is never cached, and then read
//! the movie here, which the same apply made current.

use crate::{
    ApplyReport, Checkpoint, FoldedStream, MovieQuery, MovieView, Page, ReadModelError, ReadModels,
    UserView,
};
use async_trait::async_trait;
use lru::LruCache;
use moviedb_event_store::StoredEvent;
use serde_json::Value;
use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use uuid::Uuid;

/// How often the rebuild count is read.
pub const WATCH: Duration = Duration::from_millis(500);
/// Movies kept (about 0.5 KB each).
const MOVIES: usize = 50_000;
/// List pages kept.
const PAGES: usize = 2_000;

/// Entries with a generation: a write bumps it under the same lock as it drops entries, and
/// a value read from the database before the bump is not kept.
struct Generation<K: Hash + Eq, V> {
    generation: u64,
    entries: LruCache<K, V>,
}

impl<K: Hash + Eq, V: Clone> Generation<K, V> {
    fn new(n: usize) -> Self {
        Self {
            generation: 0,
            entries: LruCache::new(NonZeroUsize::new(n).unwrap_or(NonZeroUsize::MIN)),
        }
    }

    fn get(&mut self, key: &K) -> Option<V> {
        self.entries.get(key).cloned()
    }

    /// Keeps `value`, read while the generation was `seen`, if no write came since.
    fn put(&mut self, key: K, value: V, seen: u64) {
        if self.generation == seen {
            self.entries.put(key, value);
        }
    }
}

/// [`ReadModels`] with movie details and list pages kept in memory.
pub struct CachedReadModels {
    inner: Arc<dyn ReadModels>,
    movies: Mutex<Generation<Uuid, Option<Arc<MovieView>>>>,
    pages: Mutex<Generation<String, Arc<Page<MovieView>>>>,
    in_flight: Mutex<InFlight>,
}

/// Batches being applied. Between a batch's commit and the moment its entries are dropped, a
/// read with a `Consistency-Token` can already see its versions (never cached) while the old
/// rows are still in memory; reads of its movies, and of lists, go to the database meanwhile.
#[derive(Default)]
struct InFlight {
    batches: usize,
    streams: HashMap<Uuid, usize>,
}

impl CachedReadModels {
    /// `inner` behind a cache, and a task watching for rebuilds made by other processes (it
    /// stops with the cache); call within a Tokio runtime.
    pub fn spawn(inner: Arc<dyn ReadModels>) -> Arc<Self> {
        let cache = Arc::new(Self {
            inner,
            movies: Mutex::new(Generation::new(MOVIES)),
            pages: Mutex::new(Generation::new(PAGES)),
            in_flight: Mutex::new(InFlight::default()),
        });
        let weak = Arc::downgrade(&cache);
        tokio::spawn(async move {
            let mut seen = None;
            loop {
                let Some(cache) = weak.upgrade() else { return };
                match cache.inner.checkpoint(crate::REBUILDS).await {
                    Ok(count) => {
                        if seen.is_some_and(|seen| seen != count) {
                            tracing::info!("read models rebuilt elsewhere; cache dropped");
                            cache.forget_all();
                        }
                        seen = Some(count);
                    }
                    // Unreachable database: every read fails the same way meanwhile.
                    Err(e) => tracing::debug!(error = %e, "cannot read the rebuild count"),
                }
                drop(cache);
                tokio::time::sleep(WATCH).await;
            }
        });
        cache
    }

    /// Forgets `streams` and every list page once a write is in the database; the generation
    /// bump keeps a read that raced the write from storing what it read before.
    fn forget(&self, streams: impl Iterator<Item = Uuid>) {
        if let Ok(mut movies) = self.movies.lock() {
            for id in streams {
                movies.entries.pop(&id);
            }
            movies.generation += 1;
        }
        if let Ok(mut pages) = self.pages.lock() {
            pages.entries.clear();
            pages.generation += 1;
        }
    }

    /// Marks a batch over `streams` as being applied (`+1`) or done (`-1`).
    fn in_flight(&self, step: i8, streams: impl Iterator<Item = Uuid>) {
        let Ok(mut in_flight) = self.in_flight.lock() else {
            return;
        };
        if step > 0 {
            in_flight.batches += 1;
            for id in streams {
                *in_flight.streams.entry(id).or_default() += 1;
            }
        } else {
            in_flight.batches = in_flight.batches.saturating_sub(1);
            for id in streams {
                if let std::collections::hash_map::Entry::Occupied(mut n) =
                    in_flight.streams.entry(id)
                {
                    *n.get_mut() -= 1;
                    if *n.get() == 0 {
                        n.remove();
                    }
                }
            }
        }
    }

    /// Whether reads of `id` (or, for `None`, of lists) must go to the database now.
    fn bypass(&self, id: Option<Uuid>) -> bool {
        self.in_flight.lock().map_or(true, |f| match id {
            Some(id) => f.streams.contains_key(&id),
            None => f.batches > 0,
        })
    }

    fn forget_all(&self) {
        if let Ok(mut movies) = self.movies.lock() {
            movies.entries.clear();
        }
        self.forget(std::iter::empty());
    }
}

/// The entry for `key`, or what `load` reads, kept unless a write came meanwhile.
async fn read_through<K: Hash + Eq, V: Clone>(
    entries: &Mutex<Generation<K, V>>,
    key: K,
    load: impl Future<Output = Result<V, ReadModelError>>,
) -> Result<V, ReadModelError> {
    let seen = match entries.lock() {
        Ok(mut entries) => match entries.get(&key) {
            Some(found) => return Ok(found),
            None => Some(entries.generation),
        },
        Err(_) => None,
    };
    let value = load.await?;
    if let (Some(seen), Ok(mut entries)) = (seen, entries.lock()) {
        entries.put(key, value.clone(), seen);
    }
    Ok(value)
}

struct Applied<'a> {
    cache: &'a CachedReadModels,
    streams: Vec<Uuid>,
}

impl Drop for Applied<'_> {
    fn drop(&mut self) {
        self.cache.forget(self.streams.iter().copied());
        self.cache.in_flight(-1, self.streams.iter().copied());
    }
}

#[async_trait]
impl ReadModels for CachedReadModels {
    async fn apply(
        &self,
        events: &[StoredEvent],
        checkpoint: Option<&Checkpoint>,
    ) -> Result<ApplyReport, ReadModelError> {
        let streams: Vec<Uuid> = events.iter().map(|e| e.stream_id).collect();
        // Reads of these streams, and of lists, bypass the entries until the guard, dropped
        // after the write (or if it is cancelled), has forgotten them and unmarked the batch.
        self.in_flight(1, streams.iter().copied());
        let _done = Applied {
            cache: self,
            streams,
        };
        self.inner.apply(events, checkpoint).await
    }

    async fn versions(&self, streams: &[Uuid]) -> Result<HashMap<Uuid, u64>, ReadModelError> {
        self.inner.versions(streams).await
    }

    async fn stream_versions(
        &self,
        stream_type: &str,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<(Uuid, u64)>, ReadModelError> {
        self.inner.stream_versions(stream_type, after, limit).await
    }

    async fn checkpoint(&self, name: &str) -> Result<Option<i64>, ReadModelError> {
        self.inner.checkpoint(name).await
    }

    async fn movie(&self, id: Uuid) -> Result<Option<MovieView>, ReadModelError> {
        if self.bypass(Some(id)) {
            return self.inner.movie(id).await;
        }
        let found = read_through(&self.movies, id, async {
            Ok(self.inner.movie(id).await?.map(Arc::new))
        })
        .await?;
        Ok(found.map(|m| (*m).clone()))
    }

    async fn movies(&self, query: &MovieQuery) -> Result<Page<MovieView>, ReadModelError> {
        if self.bypass(None) {
            return self.inner.movies(query).await;
        }
        let page = read_through(&self.pages, format!("{query:?}"), async {
            Ok(Arc::new(self.inner.movies(query).await?))
        })
        .await?;
        Ok((*page).clone())
    }

    async fn users(&self, page: u32, per_page: u32) -> Result<Page<UserView>, ReadModelError> {
        self.inner.users(page, per_page).await
    }

    async fn dead_letter(&self, event: &StoredEvent, error: &str) -> Result<(), ReadModelError> {
        let result = self.inner.dead_letter(event, error).await;
        self.forget(std::iter::once(event.stream_id));
        result
    }

    async fn dead_letter_count(&self) -> Result<u64, ReadModelError> {
        self.inner.dead_letter_count().await
    }

    async fn dump(&self) -> Result<Value, ReadModelError> {
        self.inner.dump().await
    }

    async fn load(&self, streams: &[FoldedStream]) -> Result<(), ReadModelError> {
        let result = self.inner.load(streams).await;
        self.forget_all();
        result
    }

    async fn begin_rebuild(&self) -> Result<Arc<dyn ReadModels>, ReadModelError> {
        self.inner.begin_rebuild().await
    }

    async fn finish_rebuild(&self) -> Result<(), ReadModelError> {
        let result = self.inner.finish_rebuild().await;
        self.forget_all();
        result
    }

    async fn ping(&self) -> Result<(), ReadModelError> {
        self.inner.ping().await
    }
}
