//! Movie reads served from memory, for a process whose projector writes the read models it
//! reads (the embedded default).
//!
//! A detail or a list page from SQLite costs tens of microseconds in the driver alone; from
//! memory it costs a hash lookup. The cache is exact for writes made through it: every batch
//! the projector hands to [`ReadModels::apply`] drops the entries of its streams (applied or
//! skipped as duplicates, so a second process applying them first changes nothing) and the
//! list pages it may have changed: every page when it adds or deletes a movie (or holds an
//! event it cannot read), else the pages whose filters or sort use a field it changed
//! ([`Fields`]). A page that only shows an edited movie keeps its place, with the movie read
//! again after the commit. So lists sorted by name stay in memory while popularity is edited;
//! dropping every page on every batch sent each list read under steady writes to the
//! database, each a count and a deep offset. The one other writer of these tables, a
//! `moviedb rebuild` run as another process, counts its swap in `projection_checkpoints` ([`crate::REBUILDS`]); a watcher reads
//! that count every [`WATCH`] and drops everything when it moves. Reads with a
//! `Consistency-Token` wait on [`ReadModels::versions`], which is never cached, and then read
//! the movie here, which the same apply made current.

use crate::{
    ApplyReport, Checkpoint, FoldedStream, MovieQuery, MovieView, Page, ReadModelError, ReadModels,
    SortField, UserView,
};
use async_trait::async_trait;
use lru::LruCache;
use moviedb_domain::movie::{Movie, MovieEvent};
use moviedb_domain::Aggregate;
use moviedb_event_store::StoredEvent;
use serde_json::Value;
use std::collections::{HashMap, HashSet, VecDeque};
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
/// The most edited movies read again after a batch to keep the list pages showing them.
const REFRESH_AT_MOST: usize = 64;

/// The fields of a movie a list filters or sorts on, as bits: what a list page depends on, or
/// what a batch of events changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Fields(u8);

impl Fields {
    const NAME: u8 = 1;
    const DIRECTOR: u8 = 1 << 1;
    const GENRES: u8 = 1 << 2;
    const SCORE: u8 = 1 << 3;
    const POPULARITY: u8 = 1 << 4;
    /// `updated_at`: every update changes it.
    const UPDATED: u8 = 1 << 5;
    /// Which movies exist: adds and deletes change every list's members and total.
    const MEMBERS: u8 = 1 << 6;
    const ALL: Fields = Fields(u8::MAX);

    fn touches(self, other: Fields) -> bool {
        self.0 & other.0 != 0
    }

    /// What a list query depends on: its members, its filters and its sort.
    fn of_query(query: &MovieQuery) -> Self {
        let filter = &query.filter;
        let mut bits = Self::MEMBERS
            | Self::bits_of([
                (query.name_contains.is_some(), Self::NAME),
                (filter.director.is_some(), Self::DIRECTOR),
                (filter.genres.is_some(), Self::GENRES),
                (
                    filter.imdb_score_gte.is_some() || filter.imdb_score_lte.is_some(),
                    Self::SCORE,
                ),
                (
                    filter.popularity_gte.is_some() || filter.popularity_lte.is_some(),
                    Self::POPULARITY,
                ),
            ]);
        bits |= match query.sort.field {
            SortField::Name => Self::NAME,
            SortField::Director => Self::DIRECTOR,
            SortField::ImdbScore => Self::SCORE,
            SortField::Popularity => Self::POPULARITY,
            SortField::CreatedAt => 0,
            SortField::UpdatedAt => Self::UPDATED,
        };
        Self(bits)
    }

    /// What applying `events` can change in movie lists. Events of other streams (users)
    /// change none; an update changes the fields it sets; anything else (an add, a delete, an
    /// event this version cannot read) may change everything.
    fn of_events(events: &[StoredEvent]) -> Self {
        let mut bits = 0;
        for event in events
            .iter()
            .filter(|e| e.stream_type == Movie::STREAM_TYPE)
        {
            let Ok(MovieEvent::Updated(patch)) = event.decode::<MovieEvent>() else {
                return Self::ALL;
            };
            bits |= Self::UPDATED
                | Self::bits_of([
                    (patch.name.is_some(), Self::NAME),
                    (patch.director.is_some(), Self::DIRECTOR),
                    (patch.genres.is_some(), Self::GENRES),
                    (patch.imdb_score.is_some(), Self::SCORE),
                    (patch.popularity.is_some(), Self::POPULARITY),
                ]);
        }
        Self(bits)
    }

    /// The bits whose flag is set.
    fn bits_of<const N: usize>(flags: [(bool, u8); N]) -> u8 {
        flags
            .into_iter()
            .filter(|(set, _)| *set)
            .fold(0, |bits, (_, bit)| bits | bit)
    }
}

/// A cached list page and the fields it depends on.
#[derive(Clone)]
struct CachedPage {
    depends: Fields,
    page: Arc<Page<MovieView>>,
}

impl CachedPage {
    fn shows_any(&self, streams: &HashSet<Uuid>) -> bool {
        self.page.items.iter().any(|m| streams.contains(&m.id))
    }

    /// The page with the movies of `streams` it shows replaced by their `fresh` views, if it
    /// has one for each (none for a movie means it must be read again).
    fn refreshed(
        &self,
        streams: &HashSet<Uuid>,
        fresh: &HashMap<Uuid, Arc<MovieView>>,
    ) -> Option<Self> {
        let mut page = (*self.page).clone();
        for item in page.items.iter_mut().filter(|m| streams.contains(&m.id)) {
            let view = fresh.get(&item.id).filter(|v| v.version >= item.version)?;
            *item = (**view).clone();
        }
        Some(Self {
            depends: self.depends,
            page: Arc::new(page),
        })
    }
}

/// What one batch wrote, as the caches see it.
struct Written {
    streams: HashSet<Uuid>,
    changed: Fields,
}

/// Writes remembered per cache, so a read that overlapped some can still be kept.
const WRITES_KEPT: usize = 64;

/// Entries with a generation: a write bumps it under the same lock as it drops entries, and
/// a value read from the database before the bump is kept only if none of the writes since
/// could have changed it. (Dropping every read that overlapped any write kept nothing under
/// steady edits on MariaDB, where a list page takes milliseconds to read: every list read went
/// to the database.)
struct Generation<K: Hash + Eq, V> {
    generation: u64,
    entries: LruCache<K, V>,
    /// The last writes, by the generation each one made.
    writes: VecDeque<(u64, Arc<Written>)>,
}

impl<K: Hash + Eq, V: Clone> Generation<K, V> {
    fn new(n: usize) -> Self {
        Self {
            generation: 0,
            entries: LruCache::new(NonZeroUsize::new(n).unwrap_or(NonZeroUsize::MIN)),
            writes: VecDeque::new(),
        }
    }

    fn get(&mut self, key: &K) -> Option<V> {
        self.entries.get(key).cloned()
    }

    /// Records a write (its entries already dropped).
    fn bump(&mut self, written: Arc<Written>) {
        self.generation += 1;
        if self.writes.len() == WRITES_KEPT {
            self.writes.pop_front();
        }
        self.writes.push_back((self.generation, written));
    }

    /// Keeps `value`, read while the generation was `seen`, unless a write since may have
    /// changed it (or is too old to tell).
    fn put(&mut self, key: K, value: V, seen: u64, changes: impl Fn(&K, &V, &Written) -> bool) {
        let since = self.generation - seen.min(self.generation);
        let known = self.writes.iter().filter(|(g, _)| *g > seen).count() as u64;
        if known == since
            && self
                .writes
                .iter()
                .filter(|(g, _)| *g > seen)
                .all(|(_, w)| !changes(&key, &value, w))
        {
            self.entries.put(key, value);
        }
    }
}

/// [`ReadModels`] with movie details and list pages kept in memory.
pub struct CachedReadModels {
    inner: Arc<dyn ReadModels>,
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

    /// The movies of `streams` that a cached list page shows.
    fn shown(&self, streams: &HashSet<Uuid>) -> HashSet<Uuid> {
        let Ok(pages) = self.pages.lock() else {
            return HashSet::new();
        };
        pages
            .entries
            .iter()
            .flat_map(|(_, c)| c.page.items.iter().map(|m| m.id))
            .filter(|id| streams.contains(id))
            .collect()
    }

    /// Forgets `streams` and the list pages a write of them that `changed` these fields may
    /// have changed, once it is in the database: a page that filters or sorts on a changed
    /// field is dropped; a page that only shows one of the movies keeps its place with the
    /// movie's `fresh` view (read after the commit), or is dropped without one. The
    /// generation bump keeps a read that raced the write from storing what it read before.
    fn forget(
        &self,
        streams: &HashSet<Uuid>,
        changed: Fields,
        fresh: &HashMap<Uuid, Arc<MovieView>>,
    ) {
        let written = Arc::new(Written {
            streams: streams.clone(),
            changed,
        });
        if let Ok(mut movies) = self.movies.lock() {
            for id in streams {
                movies.entries.pop(id);
            }
            movies.bump(written.clone());
        }
        if let Ok(mut pages) = self.pages.lock() {
            if changed == Fields::ALL {
                pages.entries.clear();
            } else {
                let mut stale = Vec::new();
                let mut refreshed = Vec::new();
                for (key, cached) in pages.entries.iter() {
                    if cached.depends.touches(changed) {
                        stale.push(key.clone());
                    } else if cached.shows_any(streams) {
                        match cached.refreshed(streams, fresh) {
                            Some(page) => refreshed.push((key.clone(), page)),
                            None => stale.push(key.clone()),
                        }
                    }
                }
                for key in stale {
                    pages.entries.pop(&key);
                }
                for (key, page) in refreshed {
                    if let Some(cached) = pages.entries.peek_mut(&key) {
                        *cached = page;
                    }
                }
            }
            pages.bump(written);
        }
    }

    /// Marks a batch over `streams`, changing `changed`, as being applied (`+1`) or done
    /// (`-1`).
    fn in_flight(&self, step: i8, streams: &HashSet<Uuid>, changed: Fields) {
        let Ok(mut in_flight) = self.in_flight.lock() else {
            return;
        };
        for (bit, count) in in_flight.fields.iter_mut().enumerate() {
            if changed.touches(Fields(1 << bit)) {
                *count = if step > 0 {
                    *count + 1
                } else {
                    count.saturating_sub(1)
                };
            }
        }
        if step > 0 {
            for id in streams {
                *in_flight.streams.entry(*id).or_default() += 1;
            }
        } else {
            for id in streams {
                if let std::collections::hash_map::Entry::Occupied(mut n) =
                    in_flight.streams.entry(*id)
                {
                    *n.get_mut() -= 1;
                    if *n.get() == 0 {
                        n.remove();
                    }
                }
            }
        }
    }

    /// Whether reads of `id` must go to the database now.
    fn bypass(&self, id: Uuid) -> bool {
        self.in_flight
            .lock()
            .map_or(true, |f| f.streams.contains_key(&id))
    }

    /// Whether reads of a list that depends on `depends` (filters or sorts on those fields)
    /// must go to the database now: a batch in flight may change its members or their order.
    fn bypass_list(&self, depends: Fields) -> bool {
        self.in_flight.lock().map_or(true, |f| {
            f.fields
                .iter()
                .enumerate()
                .any(|(bit, n)| *n > 0 && depends.touches(Fields(1 << bit)))
        })
    }

    /// The movies `page` shows that a batch in flight is writing (`None`: cannot tell).
    fn shown_in_flight(&self, page: &Page<MovieView>) -> Option<Vec<Uuid>> {
        let f = self.in_flight.lock().ok()?;
        Some(
            page.items
                .iter()
                .map(|m| m.id)
                .filter(|id| f.streams.contains_key(id))
                .collect(),
        )
    }

    fn forget_all(&self) {
        if let Ok(mut movies) = self.movies.lock() {
            movies.entries.clear();
        }
        self.forget(&HashSet::new(), Fields::ALL, &HashMap::new());
    }
}

/// The entry for `key`, or what `load` reads, kept unless a write that `changes` it came
/// meanwhile.
async fn read_through<K: Hash + Eq, V: Clone>(
    entries: &Mutex<Generation<K, V>>,
    key: K,
    load: impl Future<Output = Result<V, ReadModelError>>,
    changes: impl Fn(&K, &V, &Written) -> bool,
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
        entries.put(key, value.clone(), seen, changes);
    }
    Ok(value)
}

struct Applied<'a> {
    cache: &'a CachedReadModels,
    streams: HashSet<Uuid>,
    changed: Fields,
    /// The batch's movies as committed, for the list pages that show them.
    fresh: HashMap<Uuid, Arc<MovieView>>,
}

impl Drop for Applied<'_> {
    fn drop(&mut self) {
        self.cache.forget(&self.streams, self.changed, &self.fresh);
        self.cache.in_flight(-1, &self.streams, self.changed);
    }
}

#[async_trait]
impl ReadModels for CachedReadModels {
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
        };
        let report = self.inner.apply(events, checkpoint).await?;
        // Edits that leave every list's members and order alone: the pages showing the edited
        // movies keep their place with the movies read again (by key), rather than being
        // dropped and each read again whole (a count and a deep offset).
        let shown = if changed == Fields::ALL {
            HashSet::new()
        } else {
            self.shown(&done.streams)
        };
        // A few reads by key, one after the other: for a large batch, dropping the pages is
        // cheaper than holding the projector back.
        if !shown.is_empty() && shown.len() <= REFRESH_AT_MOST {
            let shown: Vec<Uuid> = shown.into_iter().collect();
            // Without its fresh view (a failed read), a page showing it is dropped.
            if let Ok(views) = self.inner.movies_by_id(&shown).await {
                done.fresh
                    .extend(views.into_iter().map(|view| (view.id, Arc::new(view))));
            }
        }
        Ok(report)
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
        if self.bypass(id) {
            return self.inner.movie(id).await;
        }
        let found = read_through(
            &self.movies,
            id,
            async { Ok(self.inner.movie(id).await?.map(Arc::new)) },
            |id, _, written| written.changed == Fields::ALL || written.streams.contains(id),
        )
        .await?;
        Ok(found.map(|m| (*m).clone()))
    }

    async fn movies_by_id(&self, ids: &[Uuid]) -> Result<Vec<MovieView>, ReadModelError> {
        self.inner.movies_by_id(ids).await
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

    async fn history_heads(&self) -> Result<HashMap<Uuid, u64>, ReadModelError> {
        self.inner.history_heads().await
    }

    async fn record_history(&self, events: &[&StoredEvent]) -> Result<(), ReadModelError> {
        self.inner.record_history(events).await
    }

    async fn user_role(&self, id: Uuid) -> Result<Option<moviedb_domain::Role>, ReadModelError> {
        // Never from memory: a demotion counts from the moment it is applied.
        self.inner.user_role(id).await
    }

    async fn dead_letter(&self, event: &StoredEvent, error: &str) -> Result<(), ReadModelError> {
        let result = self.inner.dead_letter(event, error).await;
        self.forget(
            &HashSet::from([event.stream_id]),
            Fields::ALL,
            &HashMap::new(),
        );
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

#[cfg(test)]
mod tests {
    use super::*;

    fn written(streams: &[Uuid], changed: Fields) -> Arc<Written> {
        Arc::new(Written {
            streams: streams.iter().copied().collect(),
            changed,
        })
    }

    /// The rule for a page-like value: it depends on `SCORE` and shows `shown`.
    fn changes(shown: Uuid) -> impl Fn(&&str, &u32, &Written) -> bool {
        move |_, _, w| {
            Fields(Fields::SCORE | Fields::MEMBERS).touches(w.changed) || w.streams.contains(&shown)
        }
    }

    #[test]
    fn a_read_that_overlapped_only_unrelated_writes_is_kept() {
        let (shown, other) = (Uuid::now_v7(), Uuid::now_v7());
        let mut cache: Generation<&str, u32> = Generation::new(8);
        let seen = cache.generation;
        cache.bump(written(
            &[other],
            Fields(Fields::POPULARITY | Fields::UPDATED),
        ));
        cache.bump(written(&[other], Fields(Fields::NAME | Fields::UPDATED)));
        cache.put("page", 1, seen, changes(shown));
        assert_eq!(
            cache.get(&"page"),
            Some(1),
            "no write since could change it"
        );
    }

    #[test]
    fn a_read_that_overlapped_a_write_it_depends_on_or_shows_is_not_kept() {
        let (shown, other) = (Uuid::now_v7(), Uuid::now_v7());
        let cases = [
            written(&[other], Fields(Fields::SCORE | Fields::UPDATED)),
            written(&[shown], Fields(Fields::POPULARITY | Fields::UPDATED)),
            written(&[other], Fields::ALL),
        ];
        for write in cases {
            let mut cache: Generation<&str, u32> = Generation::new(8);
            let seen = cache.generation;
            cache.bump(written(&[other], Fields(Fields::NAME)));
            cache.bump(write);
            cache.put("page", 1, seen, changes(shown));
            assert_eq!(cache.get(&"page"), None);
        }
    }

    #[test]
    fn a_read_older_than_the_writes_remembered_is_not_kept() {
        let (shown, other) = (Uuid::now_v7(), Uuid::now_v7());
        let mut cache: Generation<&str, u32> = Generation::new(8);
        let seen = cache.generation;
        for _ in 0..=WRITES_KEPT {
            cache.bump(written(&[other], Fields(Fields::NAME)));
        }
        cache.put("page", 1, seen, changes(shown));
        assert_eq!(
            cache.get(&"page"),
            None,
            "a write it cannot see may have changed it"
        );
        let seen = cache.generation;
        cache.put("page", 2, seen, changes(shown));
        assert_eq!(cache.get(&"page"), Some(2), "no write since");
    }
}
