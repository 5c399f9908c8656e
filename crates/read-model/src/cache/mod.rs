//! Movie reads served from memory, for a process whose projector writes the read models it
//! reads (the embedded default).
//!
//! A detail or a list page from SQLite costs tens of microseconds in the driver alone; from
//! memory it costs a hash lookup. The projector writes through it: the movies of each batch it
//! applies are read back after the commit and kept, so details are read from memory from the
//! first read. The cache is exact for writes made through it: every batch
//! the projector hands to [`ReadModels::apply`] replaces the entries of its streams with their
//! rows as committed, or drops them if they cannot be read (applied or skipped as duplicates,
//! so a second process applying them first changes nothing), and drops the
//! list pages it may have changed: every page when it adds or deletes a movie (or holds an
//! event it cannot read), else the pages whose filters or sort use a field it changed
//! ([`Fields`]). A page that only shows an edited movie keeps its place, with the movie read
//! again after the commit. So lists sorted by name stay in memory while popularity is edited;
//! dropping every page on every batch sent each list read under steady writes to the
//! database, each a count and a deep offset. The one other writer of these tables, a
//! `moviedb rebuild` run as another process, counts its swap in `projection_checkpoints` ([`crate::REBUILDS`]); a watcher reads
//! that count every [`WATCH`] and drops everything when it moves. Reads with a
//! `Consistency-Token` wait on [`ReadModels::behind`]: a movie in memory at or past the
//! version wanted is there (its entry was read after the commit), anything else is asked of
//! the database, whose versions are never cached; the read then finds the movie here, which
//! the same apply made current. Like a detail read, that answer trusts memory for the
//! [`WATCH`] it takes to notice a rebuild made elsewhere.

use crate::{
    ApplyReport, Checkpoint, FoldedStream, MovieQuery, MovieView, Page, ReadModelError,
    ReadModelWriter, ReadModels, UserView,
};
use async_trait::async_trait;
use moviedb_domain::movie::Movie;
use moviedb_domain::Aggregate;
use moviedb_event_store::StoredEvent;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use uuid::Uuid;

/// How often the rebuild count is read.
pub const WATCH: Duration = Duration::from_millis(500);
/// Movies kept (about 0.3 KB each): a catalogue of 100 000, and the movies added to it since
/// the process started, is read from memory.
const MOVIES: usize = 120_000;
/// List pages kept.
const PAGES: usize = 2_000;

mod entries;
mod invalidate;

use entries::{read_through, CachedPage, Fields, Generation};

/// [`ReadModels`] with movie details and list pages kept in memory.
pub struct CachedReadModels {
    inner: Arc<dyn ReadModelWriter>,
    movies: Mutex<Generation<Uuid, Option<Arc<MovieView>>>>,
    pages: Mutex<Generation<String, CachedPage>>,
    in_flight: Mutex<InFlight>,
}

/// Batches being applied. Between a batch's commit and the moment its entries are dropped, a
/// read with a `Consistency-Token` can already see its versions (never cached) while the old
/// rows are still in memory; reads of its movies, and of the lists it may change, go to the
/// database meanwhile.
#[derive(Default)]
struct InFlight {
    /// Batches in flight changing each bit of [`Fields`].
    fields: [usize; 8],
    streams: HashMap<Uuid, usize>,
}

impl CachedReadModels {
    /// `inner` behind a cache, and a task watching for rebuilds made by other processes (it
    /// stops with the cache); call within a Tokio runtime.
    pub fn spawn(inner: Arc<dyn ReadModelWriter>) -> Arc<Self> {
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
}

struct Applied<'a> {
    cache: &'a CachedReadModels,
    streams: HashSet<Uuid>,
    changed: Fields,
    /// The batch's movies as committed, for the list pages that show them and the movie
    /// entries.
    fresh: HashMap<Uuid, Arc<MovieView>>,
    /// The movie entries' generation before the batch was written, if `fresh` was read.
    seen: Option<u64>,
}

impl Drop for Applied<'_> {
    fn drop(&mut self) {
        self.cache
            .forget(&self.streams, self.changed, &self.fresh, self.seen);
        self.cache.in_flight(-1, &self.streams, self.changed);
    }
}

#[async_trait]
impl ReadModels for CachedReadModels {
    async fn versions(&self, streams: &[Uuid]) -> Result<HashMap<Uuid, u64>, ReadModelError> {
        self.inner.versions(streams).await
    }

    /// A movie whose entry is at or past the version wanted is there: the entry was read from
    /// the database after a commit, and no batch of it is in flight (a stream's version is
    /// never below the version of its movie row). Everything else, users, deleted movies and
    /// movies not in memory or older than wanted, is asked of the database, so a stream whose
    /// version moved past its row (a dead-lettered event) is never waited on in vain. A read
    /// with a token then costs a hash look-up rather than a query (on SQLite about 0.4 ms at
    /// the median, and more in the tail, through the driver's thread).
    async fn behind(&self, wanted: &[(Uuid, u64)]) -> Result<usize, ReadModelError> {
        let unknown: Vec<(Uuid, u64)> = wanted
            .iter()
            .copied()
            .filter(|(id, version)| !self.holds(*id, *version))
            .collect();
        if unknown.is_empty() {
            return Ok(0);
        }
        self.inner.behind(&unknown).await
    }

    async fn checkpoint(&self, name: &str) -> Result<Option<i64>, ReadModelError> {
        self.inner.checkpoint(name).await
    }

    async fn movie(&self, id: Uuid) -> Result<Option<MovieView>, ReadModelError> {
        if self.bypass(id) {
            return self.inner.movie(id).await;
        }
        let found = read_through(
            &self.movies,
            id,
            async { Ok(self.inner.movie(id).await?.map(Arc::new)) },
            |id, _, written| written.changes_movie(id),
        )
        .await?;
        Ok(found.map(|m| (*m).clone()))
    }

    async fn movies(&self, query: &MovieQuery) -> Result<Page<MovieView>, ReadModelError> {
        let depends = Fields::of_query(query);
        if self.bypass_list(depends) {
            return self.inner.movies(query).await;
        }
        let cached = read_through(
            &self.pages,
            format!("{query:?}"),
            async {
                Ok(CachedPage {
                    depends,
                    page: Arc::new(self.inner.movies(query).await?),
                })
            },
            |_, cached, written| {
                cached.depends.touches(written.changed) || cached.shows_any(&written.streams)
            },
        )
        .await?;
        // A batch that changes the list's members or order may have started since.
        if self.bypass_list(depends) {
            return self.inner.movies(query).await;
        }
        // One that edits movies the page shows (and nothing the list depends on) leaves the
        // page as it is but for those movies: they are read again by key, not the whole page
        // (a count and a deep offset), which under steady edits kept the database busy.
        let Some(editing) = self.shown_in_flight(&cached.page) else {
            return self.inner.movies(query).await;
        };
        let mut page = (*cached.page).clone();
        if editing.is_empty() {
            return Ok(page);
        }
        let mut fresh: HashMap<Uuid, MovieView> = self
            .inner
            .movies_by_id(&editing)
            .await?
            .into_iter()
            .map(|m| (m.id, m))
            .collect();
        for item in &mut page.items {
            if editing.contains(&item.id) {
                // Gone meanwhile (a delete changes every list: a batch begun since).
                let Some(view) = fresh.remove(&item.id) else {
                    return self.inner.movies(query).await;
                };
                *item = view;
            }
        }
        Ok(page)
    }

    async fn users(&self, page: u32, per_page: u32) -> Result<Page<UserView>, ReadModelError> {
        self.inner.users(page, per_page).await
    }

    async fn movie_history(&self, id: Uuid) -> Result<Vec<crate::HistoryEntry>, ReadModelError> {
        self.inner.movie_history(id).await
    }

    async fn user_role(&self, id: Uuid) -> Result<Option<moviedb_domain::Role>, ReadModelError> {
        // Never from memory: a demotion counts from the moment it is applied.
        self.inner.user_role(id).await
    }

    async fn dead_letter_count(&self) -> Result<u64, ReadModelError> {
        self.inner.dead_letter_count().await
    }

    async fn ping(&self) -> Result<(), ReadModelError> {
        self.inner.ping().await
    }
}

#[async_trait]
impl ReadModelWriter for CachedReadModels {
    async fn apply(
        &self,
        events: &[StoredEvent],
        checkpoint: Option<&Checkpoint>,
    ) -> Result<ApplyReport, ReadModelError> {
        let streams: HashSet<Uuid> = events.iter().map(|e| e.stream_id).collect();
        let changed = Fields::of_events(events);
        // Reads of these streams, and of the lists they may change, bypass the entries until
        // the guard, dropped after the write (or if it is cancelled), has forgotten them and
        // unmarked the batch.
        self.in_flight(1, &streams, changed);
        let mut done = Applied {
            cache: self,
            streams,
            changed,
            fresh: HashMap::new(),
            seen: None,
        };
        let seen = self.movies.lock().map(|m| m.generation).ok();
        let report = self.inner.apply(events, checkpoint).await?;
        // The batch's movies as committed: they go into memory as the batch is forgotten
        // (written through, so a catalogue loaded by this process is read from memory from
        // the first read), and the list pages showing an edited movie keep their place with
        // its fresh view rather than being dropped and read again whole (a count and a deep
        // offset). A page that shows one of them without its fresh view (a failed read) is
        // dropped.
        let movies: Vec<Uuid> = events
            .iter()
            .filter(|e| e.stream_type == Movie::STREAM_TYPE)
            .map(|e| e.stream_id)
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        if !movies.is_empty() {
            if let Ok(views) = self.inner.movies_by_id(&movies).await {
                done.fresh
                    .extend(views.into_iter().map(|view| (view.id, Arc::new(view))));
                done.seen = seen;
            }
        }
        Ok(report)
    }

    async fn stream_versions(
        &self,
        stream_type: &str,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<(Uuid, u64)>, ReadModelError> {
        self.inner.stream_versions(stream_type, after, limit).await
    }

    async fn movies_by_id(&self, ids: &[Uuid]) -> Result<Vec<MovieView>, ReadModelError> {
        self.inner.movies_by_id(ids).await
    }

    async fn poster_hashes(&self) -> Result<std::collections::HashSet<String>, ReadModelError> {
        self.inner.poster_hashes().await
    }

    async fn history_heads(&self) -> Result<HashMap<Uuid, u64>, ReadModelError> {
        self.inner.history_heads().await
    }

    async fn record_history(&self, events: &[&StoredEvent]) -> Result<(), ReadModelError> {
        self.inner.record_history(events).await
    }

    async fn dead_letter(&self, event: &StoredEvent, error: &str) -> Result<(), ReadModelError> {
        let result = self.inner.dead_letter(event, error).await;
        self.forget(
            &HashSet::from([event.stream_id]),
            Fields::ALL,
            &HashMap::new(),
            None,
        );
        result
    }

    async fn dump(&self) -> Result<Value, ReadModelError> {
        self.inner.dump().await
    }

    async fn load(&self, streams: &[FoldedStream]) -> Result<(), ReadModelError> {
        let result = self.inner.load(streams).await;
        self.forget_all();
        result
    }

    async fn begin_rebuild(&self) -> Result<Arc<dyn ReadModelWriter>, ReadModelError> {
        self.inner.begin_rebuild().await
    }

    async fn finish_rebuild(&self) -> Result<(), ReadModelError> {
        let result = self.inner.finish_rebuild().await;
        self.forget_all();
        result
    }
}
