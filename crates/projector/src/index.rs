//! Projection into the search index.
//!
//! A batch goes to the index *before* the read models commit it, so once the read models
//! reach a `Consistency-Token` the index has too: the token covers search. Each movie stream's
//! document is folded from its read-model state plus the batch's new events, and written with
//! the stream version as its external version, so a duplicate or a late write is refused by
//! the index itself. After the read models commit, the index is checked against them for the
//! batch's movies and brought up to date where it is behind (a crash between the two writes, a
//! rebuild swapping the index underneath); [`reconcile`] does the same for every movie.

use crate::ProjectorError;
use moviedb_domain::movie::{MovieEvent, MovieFields};
use moviedb_event_store::{Metadata, StoredEvent};
use moviedb_read_model::{MovieView, ReadModelError, ReadModels};
use moviedb_search::{EventDocument, IndexOp, MovieDocument, SearchIndex};
use std::collections::HashMap;
use uuid::Uuid;

fn document(id: Uuid, fields: MovieFields, version: u64) -> MovieDocument {
    MovieDocument {
        id,
        name: fields.name,
        director: fields.director,
        genres: fields.genres,
        imdb_score: fields.imdb_score,
        popularity: fields.popularity,
        version,
    }
}

fn fields_of(view: MovieView) -> MovieFields {
    MovieFields {
        name: view.name,
        director: view.director,
        genres: view.genres,
        imdb_score: view.imdb_score,
        popularity: view.popularity,
    }
}

fn is_movie(event: &StoredEvent) -> bool {
    event.stream_type == "movie"
}

/// The index writes for `events` (each stream's in version order, as `prepare` leaves them),
/// given the versions the read models hold: one write per movie, its state after the batch.
pub(crate) async fn ops(
    read: &dyn ReadModels,
    events: &[StoredEvent],
    applied: &HashMap<Uuid, u64>,
) -> Result<Vec<IndexOp>, ReadModelError> {
    let mut state: HashMap<Uuid, Option<MovieFields>> = HashMap::new();
    let mut last: HashMap<Uuid, IndexOp> = HashMap::new();
    let mut order = Vec::new();
    for event in events.iter().filter(|e| is_movie(e)) {
        let id = event.stream_id;
        let have = applied.get(&id).copied().unwrap_or(0);
        if event.version <= have {
            continue;
        }
        if let std::collections::hash_map::Entry::Vacant(slot) = state.entry(id) {
            slot.insert(if have == 0 {
                None
            } else {
                read.movie(id).await?.map(fields_of)
            });
            order.push(id);
        }
        // An event that does not decode is the read models' to dead-letter; the index keeps
        // what it had.
        let Ok(decoded) = event.decode::<MovieEvent>() else {
            continue;
        };
        let current = state.entry(id).or_default();
        let op = match decoded {
            MovieEvent::Added(fields) => {
                *current = Some(fields.clone());
                IndexOp::Upsert(document(id, fields, event.version))
            }
            MovieEvent::Updated(patch) => match current.take() {
                Some(fields) => {
                    let fields = patch.apply_to(fields);
                    *current = Some(fields.clone());
                    IndexOp::Upsert(document(id, fields, event.version))
                }
                None => continue,
            },
            MovieEvent::Deleted(_) => {
                *current = None;
                IndexOp::Delete {
                    id,
                    version: event.version,
                }
            }
        };
        last.insert(id, op);
    }
    Ok(order
        .into_iter()
        .filter_map(|id| last.remove(&id))
        .collect())
}

/// The analysts' view of the events the read models have not applied yet.
pub(crate) fn event_documents(
    events: &[StoredEvent],
    applied: &HashMap<Uuid, u64>,
) -> Vec<EventDocument> {
    events
        .iter()
        .filter(|e| e.version > applied.get(&e.stream_id).copied().unwrap_or(0))
        .map(|e| {
            let metadata: Metadata = serde_json::from_value(e.metadata.clone()).unwrap_or_default();
            let movie = match e.decode::<MovieEvent>() {
                Ok(MovieEvent::Added(fields)) if is_movie(e) => serde_json::to_value(fields).ok(),
                Ok(MovieEvent::Updated(patch)) if is_movie(e) => serde_json::to_value(patch).ok(),
                _ => None,
            };
            EventDocument {
                event_id: e.event_id,
                event_type: e.event_type.clone(),
                stream_type: e.stream_type.clone(),
                stream_id: e.stream_id,
                version: e.version,
                recorded_at: e.recorded_at,
                actor_id: metadata.actor_id,
                actor_kind: metadata.actor_kind,
                movie,
            }
        })
        .collect()
}

/// Writes the read models' state of every movie in `ids` that the index holds at an older
/// version; how many there were.
pub(crate) async fn sync(
    read: &dyn ReadModels,
    search: &dyn SearchIndex,
    ids: &[Uuid],
    read_versions: &HashMap<Uuid, u64>,
) -> Result<u64, ProjectorError> {
    let indexed = search.versions(ids).await?;
    let mut ops = Vec::new();
    for id in ids {
        let Some(&version) = read_versions.get(id) else {
            continue;
        };
        if indexed.get(id).copied().unwrap_or(0) >= version {
            continue;
        }
        ops.push(match read.movie(*id).await? {
            Some(view) => {
                let version = view.version;
                IndexOp::Upsert(document(*id, fields_of(view), version))
            }
            None => IndexOp::Delete { id: *id, version },
        });
    }
    if ops.is_empty() {
        return Ok(0);
    }
    Ok(search.apply(ops).await?.applied)
}

/// Brings the index up to date with the read models for every movie; how many documents were
/// behind. Run at start and after a rebuild.
pub async fn reconcile(
    read: &dyn ReadModels,
    search: &dyn SearchIndex,
) -> Result<u64, ProjectorError> {
    let (mut after, mut repaired) = (None, 0);
    loop {
        let page = read.stream_versions("movie", after, 500).await?;
        let Some((last, _)) = page.last().copied() else {
            return Ok(repaired);
        };
        let ids: Vec<Uuid> = page.iter().map(|(id, _)| *id).collect();
        let versions: HashMap<Uuid, u64> = page.into_iter().collect();
        repaired += sync(read, search, &ids, &versions).await?;
        after = Some(last);
    }
}
