//! `moviedb import FILE`: a catalogue in the original app's movie format (a JSON array, or one
//! movie per line) added through the command path, as an admin's bulk add would be: real
//! events, the same validation, the same uniqueness rule. A movie already in the catalogue
//! (same name and director) is counted, not added again, so a second run adds nothing and an
//! interrupted run can simply be run again.
//!
//! The file is read twice and never held whole: a first pass checks its syntax and counts its
//! items (a broken array is refused before anything is added), the second streams the items,
//! parsed and validated on a thread of their own, to the appends. Memory is bounded by the
//! appends in flight, whatever the file's size.
//!
//! A movie may name a `poster`: an image file relative to the catalogue file. Its sizes are
//! made and stored as an upload's are, then set on the movie (on one already there too, so a
//! run interrupted between a movie and its poster is finished by the next; the same poster
//! again changes nothing).

mod catalogue;

pub use catalogue::Catalogue;

use catalogue::Item;
use futures::StreamExt;
use moviedb_command_api::commands::{CommandError, CommandService, Outcome, Taken};
use moviedb_domain::movie::Poster;
use moviedb_domain::Actor;
use moviedb_event_store::{AppendError, Metadata};
use moviedb_images::{Format, ImageStore, Limits, STORED_CONTENT_TYPE};
use std::path::{Path, PathBuf};
use uuid::Uuid;

/// Chunks of the file in flight at once (each of up to 1 024 movies, added together by
/// `CommandService::add_movies`): enough for the store's group commit to fill its groups.
const CHUNKS_IN_FLIGHT: usize = 8;

/// What an import did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Movies added.
    pub created: u64,
    /// Movies the catalogue already had.
    pub present: u64,
    /// Posters set (on new movies and on movies already there without that poster).
    pub posters: u64,
    /// Items refused, by position in the file (0-based) and why; for a movie whose poster was
    /// refused, the movie is in and the reason names the poster.
    pub rejected: Vec<(usize, String)>,
}

/// Where an import puts the posters the file names.
pub struct Posters<'a> {
    /// The service's image store.
    pub store: &'a ImageStore,
    /// What a poster may be.
    pub limits: Limits,
}

/// Adds the movies of `catalogue` through `commands` as the operator, by the API's bulk path;
/// `progress` is told how many items are done. A failure of the store itself ends the import
/// with an error: what was added stays, and a second run goes on from there.
pub async fn import(
    commands: &CommandService,
    catalogue: &Catalogue,
    posters: &Posters<'_>,
    progress: impl Fn(u64),
) -> anyhow::Result<Summary> {
    let metadata = Metadata {
        actor_kind: Some("system".into()),
        ..Metadata::default()
    };
    let mut chunks = catalogue.stream();
    let mut summary = Summary::default();
    let (mut done, mut read_all, mut failed) = (0, false, None);
    // Chunks are taken as the appends make room for them, so the reading thread stays a few
    // chunks ahead and no further.
    let mut added = futures::stream::FuturesUnordered::new();
    loop {
        while added.len() < CHUNKS_IN_FLIGHT && !read_all {
            match chunks.recv().await {
                Some(Ok(chunk)) => {
                    let metadata = &metadata;
                    added.push(add_chunk(commands, chunk, metadata));
                }
                Some(Err(e)) => {
                    failed = Some(e);
                    read_all = true;
                }
                None => read_all = true,
            }
        }
        let Some(outcomes) = added.next().await else {
            break;
        };
        let mut wanted: Vec<(usize, Uuid, PathBuf)> = Vec::new();
        for (index, outcome, poster) in outcomes {
            match outcome {
                Ok(Ok(outcome)) => {
                    summary.created += 1;
                    wanted.extend(poster.map(|p| (index, outcome.stream_id, p)));
                }
                Ok(Err(CommandError::MovieExists { owner, .. })) => {
                    summary.present += 1;
                    if !owner.is_nil() {
                        wanted.extend(poster.map(|p| (index, owner, p)));
                    }
                }
                Ok(Err(
                    e @ (CommandError::Store(_) | CommandError::Append(AppendError::Store(_))),
                )) => {
                    return Err(anyhow::anyhow!("the event store failed: {e}"));
                }
                Ok(Err(e)) => summary.rejected.push((index, e.to_string())),
                Err(why) => summary.rejected.push((index, why)),
            }
            done += 1;
        }
        let metadata = &metadata;
        let set = futures::stream::iter(wanted)
            .map(|(index, movie, path)| async move {
                (
                    index,
                    set_poster(commands, posters, movie, &path, metadata).await,
                )
            })
            .buffer_unordered(2)
            .collect::<Vec<_>>()
            .await;
        for (index, result) in set {
            match result {
                Ok(true) => summary.posters += 1,
                Ok(false) => {}
                Err(why) => summary.rejected.push((index, why)),
            }
        }
        progress(done);
    }
    if let Some(e) = failed {
        return Err(e);
    }
    summary.rejected.sort();
    Ok(summary)
}

/// An item's outcome: the command's, or (`Err`) why the item is not a movie.
type Added = Result<Result<Outcome, CommandError>, String>;

/// Makes the sizes of the poster at `path`, stores them, and sets the poster on `movie`:
/// whether it changed (not when the movie shows this file already), or why not, naming the
/// file.
async fn set_poster(
    commands: &CommandService,
    posters: &Posters<'_>,
    movie: Uuid,
    path: &Path,
    metadata: &Metadata,
) -> Result<bool, String> {
    let why = |e: &dyn std::fmt::Display| format!("poster {}: {e}", path.display());
    let content_type = match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("jpg" | "jpeg") => Format::Jpeg,
        Some("png") => Format::Png,
        Some("webp") => Format::WebP,
        _ => return Err(why(&"not a .jpg, .jpeg, .png or .webp file")),
    }
    .content_type();
    let bytes = tokio::fs::read(path).await.map_err(|e| why(&e))?;
    let shown = commands.poster_of(movie).await.map_err(|e| why(&e))?;
    if shown.is_some_and(|p| p.hash == moviedb_images::content_hash(&bytes)) {
        return Ok(false);
    }
    let limits = posters.limits;
    let made =
        tokio::task::spawn_blocking(move || moviedb_images::process(&bytes, content_type, &limits))
            .await
            .map_err(|e| why(&e))?
            .map_err(|e| why(&e))?;
    posters.store.put(&made, "jpg").await.map_err(|e| why(&e))?;
    let poster = Poster {
        hash: made.hash,
        width: made.width,
        height: made.height,
        content_type: STORED_CONTENT_TYPE.to_owned(),
    };
    commands
        .run(|| commands.set_poster(movie, Some(poster.clone()), None, Actor::System, metadata))
        .await
        .map(|_| true)
        .map_err(|e| why(&e))
}

/// One chunk through `CommandService::add_movies`: each item's place in the file and its
/// outcome.
async fn add_chunk(
    commands: &CommandService,
    chunk: Vec<Item>,
    metadata: &Metadata,
) -> Vec<(usize, Added, Option<PathBuf>)> {
    let mut indices = Vec::with_capacity(chunk.len());
    let mut refused = Vec::with_capacity(chunk.len());
    let mut posters = Vec::with_capacity(chunk.len());
    let movies = chunk
        .into_iter()
        .map(|(index, item)| {
            indices.push(index);
            match item {
                Ok(entry) => {
                    refused.push(None);
                    posters.push(entry.poster);
                    Some(entry.fields)
                }
                Err(why) => {
                    refused.push(Some(why));
                    posters.push(None);
                    None
                }
            }
        })
        .collect();
    let added = commands
        .add_movies(movies, Actor::System, metadata, Taken::Counted)
        .await;
    indices
        .into_iter()
        .zip(added.into_iter().zip(refused))
        .zip(posters)
        .map(|((index, (added, refused)), poster)| {
            let outcome = match (added, refused) {
                (_, Some(why)) => Err(why),
                (Some(outcome), None) => Ok(outcome),
                (None, None) => Ok(Err(CommandError::Internal(
                    "an import item was not added".into(),
                ))),
            };
            (index, outcome, poster)
        })
        .collect()
}
