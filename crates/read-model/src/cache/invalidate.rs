//! What a batch drops from memory, and when reads go around the cache.

use super::entries::Written;
use super::Fields;
use crate::{CachedReadModels, MovieView, Page};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use uuid::Uuid;

impl CachedReadModels {
    /// Forgets `streams` and the list pages a write of them that `changed` these fields may
    /// have changed, once it is in the database: a page that filters or sorts on a changed
    /// field is dropped; a page that only shows one of the movies keeps its place with the
    /// movie's `fresh` view (read after the commit), or is dropped without one. The fresh
    /// views, read after the entries' generation was `seen`, replace the movies' entries
    /// unless another batch wrote one of them since (the write-through). The generation bump
    /// keeps a read that raced the write from storing what it read before.
    pub(super) fn forget(
        &self,
        streams: &HashSet<Uuid>,
        changed: Fields,
        fresh: &HashMap<Uuid, Arc<MovieView>>,
        seen: Option<u64>,
    ) {
        let written = Arc::new(Written {
            streams: streams.clone(),
            changed,
        });
        if let Ok(mut movies) = self.movies.lock() {
            for id in streams {
                movies.entries.pop(id);
            }
            if let Some(seen) = seen {
                for (id, view) in fresh.iter().filter(|(id, _)| streams.contains(id)) {
                    // Before this batch's own bump: only other writes since `seen` count.
                    movies.put(*id, Some(view.clone()), seen, |id, _, other| {
                        other.changes_movie(id)
                    });
                }
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
    pub(super) fn in_flight(&self, step: i8, streams: &HashSet<Uuid>, changed: Fields) {
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
    pub(super) fn bypass(&self, id: Uuid) -> bool {
        self.in_flight
            .lock()
            .map_or(true, |f| f.streams.contains_key(&id))
    }

    /// Whether the movie entry of `id` shows `version` or a later one, with no batch of it in
    /// flight.
    pub(super) fn holds(&self, id: Uuid, version: u64) -> bool {
        !self.bypass(id)
            && self.movies.lock().is_ok_and(|mut movies| {
                matches!(movies.get(&id), Some(Some(movie)) if movie.version >= version)
            })
    }

    /// Whether reads of a list that depends on `depends` (filters or sorts on those fields)
    /// must go to the database now: a batch in flight may change its members or their order.
    pub(super) fn bypass_list(&self, depends: Fields) -> bool {
        self.in_flight.lock().map_or(true, |f| {
            f.fields
                .iter()
                .enumerate()
                .any(|(bit, n)| *n > 0 && depends.touches(Fields(1 << bit)))
        })
    }

    /// The movies `page` shows that a batch in flight is writing (`None`: cannot tell).
    pub(super) fn shown_in_flight(&self, page: &Page<MovieView>) -> Option<Vec<Uuid>> {
        let f = self.in_flight.lock().ok()?;
        Some(
            page.items
                .iter()
                .map(|m| m.id)
                .filter(|id| f.streams.contains_key(id))
                .collect(),
        )
    }

    pub(super) fn forget_all(&self) {
        if let Ok(mut movies) = self.movies.lock() {
            movies.entries.clear();
        }
        self.forget(&HashSet::new(), Fields::ALL, &HashMap::new(), None);
    }
}
