//! The entries kept: pages and movies by generation, with the writes remembered so a read
//! that overlapped some can still be kept, and the fields a page depends on.

use crate::{MovieQuery, MovieView, Page, ReadModelError, SortField};
use lru::LruCache;
use moviedb_domain::movie::{Movie, MovieEvent};
use moviedb_domain::Aggregate;
use moviedb_event_store::StoredEvent;
use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::hash::Hash;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// The fields of a movie a list filters or sorts on, as bits: what a list page depends on, or
/// what a batch of events changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct Fields(pub(super) u8);

impl Fields {
    pub(super) const NAME: u8 = 1;
    pub(super) const DIRECTOR: u8 = 1 << 1;
    pub(super) const GENRES: u8 = 1 << 2;
    pub(super) const SCORE: u8 = 1 << 3;
    pub(super) const POPULARITY: u8 = 1 << 4;
    /// `updated_at`: every update changes it.
    pub(super) const UPDATED: u8 = 1 << 5;
    /// Which movies exist: adds and deletes change every list's members and total.
    pub(super) const MEMBERS: u8 = 1 << 6;
    pub(super) const ALL: Fields = Fields(u8::MAX);

    pub(super) fn touches(self, other: Fields) -> bool {
        self.0 & other.0 != 0
    }

    /// What a list query depends on: its members, its filters and its sort.
    pub(super) fn of_query(query: &MovieQuery) -> Self {
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
    pub(super) fn of_events(events: &[StoredEvent]) -> Self {
        let mut bits = 0;
        for event in events
            .iter()
            .filter(|e| e.stream_type == Movie::STREAM_TYPE)
        {
            let patch = match event.decode::<MovieEvent>() {
                Ok(MovieEvent::Updated(patch)) => patch,
                // A poster changes no field a list filters or sorts by but the time of change.
                Ok(MovieEvent::PosterSet(_) | MovieEvent::PosterRemoved(_)) => {
                    bits |= Self::UPDATED;
                    continue;
                }
                _ => return Self::ALL,
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
    pub(super) fn bits_of<const N: usize>(flags: [(bool, u8); N]) -> u8 {
        flags
            .into_iter()
            .filter(|(set, _)| *set)
            .fold(0, |bits, (_, bit)| bits | bit)
    }
}

/// A cached list page and the fields it depends on.
#[derive(Clone)]
pub(super) struct CachedPage {
    pub(super) depends: Fields,
    pub(super) page: Arc<Page<MovieView>>,
}

impl CachedPage {
    pub(super) fn shows_any(&self, streams: &HashSet<Uuid>) -> bool {
        self.page.items.iter().any(|m| streams.contains(&m.id))
    }

    /// The page with the movies of `streams` it shows replaced by their `fresh` views, if it
    /// has one for each (none for a movie means it must be read again).
    pub(super) fn refreshed(
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
pub(super) struct Written {
    pub(super) streams: HashSet<Uuid>,
    pub(super) changed: Fields,
}

impl Written {
    /// Whether this write may have changed the movie `id`'s entry.
    pub(super) fn changes_movie(&self, id: &Uuid) -> bool {
        self.changed == Fields::ALL || self.streams.contains(id)
    }
}

/// Writes remembered per cache, so a read that overlapped some can still be kept.
pub(super) const WRITES_KEPT: usize = 64;

/// Entries with a generation: a write bumps it under the same lock as it drops entries, and
/// a value read from the database before the bump is kept only if none of the writes since
/// could have changed it. (Dropping every read that overlapped any write kept nothing under
/// steady edits on MariaDB, where a list page takes milliseconds to read: every list read went
/// to the database.)
pub(super) struct Generation<K: Hash + Eq, V> {
    pub(super) generation: u64,
    pub(super) entries: LruCache<K, V>,
    /// The last writes, by the generation each one made.
    pub(super) writes: VecDeque<(u64, Arc<Written>)>,
}

impl<K: Hash + Eq, V: Clone> Generation<K, V> {
    pub(super) fn new(n: usize) -> Self {
        Self {
            generation: 0,
            entries: LruCache::new(NonZeroUsize::new(n).unwrap_or(NonZeroUsize::MIN)),
            writes: VecDeque::new(),
        }
    }

    pub(super) fn get(&mut self, key: &K) -> Option<V> {
        self.entries.get(key).cloned()
    }

    /// Records a write (its entries already dropped).
    pub(super) fn bump(&mut self, written: Arc<Written>) {
        self.generation += 1;
        if self.writes.len() == WRITES_KEPT {
            self.writes.pop_front();
        }
        self.writes.push_back((self.generation, written));
    }

    /// Keeps `value`, read while the generation was `seen`, unless a write since may have
    /// changed it (or is too old to tell).
    pub(super) fn put(
        &mut self,
        key: K,
        value: V,
        seen: u64,
        changes: impl Fn(&K, &V, &Written) -> bool,
    ) {
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

/// The entry for `key`, or what `load` reads, kept unless a write that `changes` it came
/// meanwhile.
pub(super) async fn read_through<K: Hash + Eq, V: Clone>(
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
