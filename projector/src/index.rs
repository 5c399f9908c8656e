//! Projection into the search index.
//!
//! A batch goes to the index *after* the read models commit it, so that a plain read never
//! waits for the index (a commit of it costs milliseconds). The batch's movies are compared
//! with the index and whatever the index holds at an older version is written from the read
//! models, with the stream version as its external version, so a duplicate or a late write is
//! refused by the index itself. The same comparison mends a crash between the two writes or a
//! rebuild swapping the index underneath; [`reconcile`] does it for every movie at start. A
//! search with a `Consistency-Token` waits for the index itself (see the query API).

use crate::ProjectorError;
use moviedb_domain::movie::{Movie, MovieEvent, MovieFields};
use moviedb_domain::Aggregate;
use moviedb_event_store::{Metadata, StoredEvent};
use moviedb_read_model::{FoldedState, FoldedStream, MovieView, ReadModelWriter};
use moviedb_search::{EventDocument, IndexOp, MovieDocument, SearchIndex};
use std::collections::HashMap;
use uuid::Uuid;

fn document(
    id: Uuid,
    fields: MovieFields,
    version: u64,
    poster_path: Option<String>,
) -> MovieDocument {
    MovieDocument {
        id,
        name: fields.name,
        director: fields.director,
        genres: fields.genres,
        imdb_score: fields.imdb_score,
        popularity: fields.popularity,
        version,
        poster_path,
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
    event.stream_type == Movie::STREAM_TYPE
}

/// The index writes for streams a rebuild folded: each movie's document, or a tombstone for
/// a deleted one.
pub(crate) fn documents(streams: &[FoldedStream]) -> Vec<IndexOp> {
    streams
        .iter()
        .filter_map(|stream| match &stream.state {
            FoldedState::Movie {
                fields: Some(fields),
                poster,
                ..
            } => Some(IndexOp::Upsert(document(
                stream.id,
                fields.clone(),
                stream.version,
                poster.clone(),
            ))),
            FoldedState::Movie { fields: None, .. } => Some(IndexOp::Delete {
                id: stream.id,
                version: stream.version,
            }),
            _ => None,
        })
        .collect()
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
    read: &dyn ReadModelWriter,
    search: &dyn SearchIndex,
    ids: &[Uuid],
    read_versions: &HashMap<Uuid, u64>,
) -> Result<u64, ProjectorError> {
    let ops = behind(read, search, ids, read_versions).await?;
    if ops.is_empty() {
        return Ok(0);
    }
    Ok(search.apply(ops).await?.applied)
}

/// The writes that bring every movie in `ids` the index holds at an older version up to the
/// read models' state.
pub(crate) async fn behind(
    read: &dyn ReadModelWriter,
    search: &dyn SearchIndex,
    ids: &[Uuid],
    read_versions: &HashMap<Uuid, u64>,
) -> Result<Vec<IndexOp>, ProjectorError> {
    let indexed = search.versions(ids).await?;
    let behind: Vec<(Uuid, u64)> = ids
        .iter()
        .filter_map(|id| Some((*id, *read_versions.get(id)?)))
        .filter(|(id, version)| indexed.get(id).copied().unwrap_or(0) < *version)
        .collect();
    let stream_ids: Vec<Uuid> = behind.iter().map(|(id, _)| *id).collect();
    let mut live: HashMap<Uuid, MovieView> = read
        .movies_by_id(&stream_ids)
        .await?
        .into_iter()
        .map(|view| (view.id, view))
        .collect();
    let mut ops = Vec::with_capacity(behind.len());
    for (id, version) in behind {
        ops.push(match live.remove(&id) {
            Some(view) => {
                let (version, poster) = (view.version, view.poster_path.clone());
                IndexOp::Upsert(document(id, fields_of(view), version, poster))
            }
            None => IndexOp::Delete { id, version },
        });
    }
    Ok(ops)
}

/// Brings the index up to date with the read models for every movie; how many documents were
/// behind. Run at start and after a rebuild.
pub async fn reconcile(
    read: &dyn ReadModelWriter,
    search: &dyn SearchIndex,
) -> Result<u64, ProjectorError> {
    let (mut after, mut repaired) = (None, 0);
    loop {
        let page = read.stream_versions(Movie::STREAM_TYPE, after, 500).await?;
        let Some((last, _)) = page.last().copied() else {
            return Ok(repaired);
        };
        let ids: Vec<Uuid> = page.iter().map(|(id, _)| *id).collect();
        let versions: HashMap<Uuid, u64> = page.into_iter().collect();
        repaired += sync(read, search, &ids, &versions).await?;
        after = Some(last);
    }
}
