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

mod catalogue;

pub use catalogue::Catalogue;

use catalogue::Item;
use futures::StreamExt;
use moviedb_command_api::commands::{CommandError, CommandService, Outcome, Taken};
use moviedb_domain::Actor;
use moviedb_event_store::{AppendError, Metadata};

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
    /// Items refused, by position in the file (0-based) and why.
    pub rejected: Vec<(usize, String)>,
}

/// Adds the movies of `catalogue` through `commands` as the operator, by the API's bulk path;
/// `progress` is told how many items are done. A failure of the store itself ends the import
/// with an error: what was added stays, and a second run goes on from there.
pub async fn import(
    commands: &CommandService,
    catalogue: &Catalogue,
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
        for (index, outcome) in outcomes {
            match outcome {
                Ok(Ok(_)) => summary.created += 1,
                Ok(Err(CommandError::MovieExists { .. })) => summary.present += 1,
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

/// One chunk through `CommandService::add_movies`: each item's place in the file and its
/// outcome.
async fn add_chunk(
    commands: &CommandService,
    chunk: Vec<Item>,
    metadata: &Metadata,
) -> Vec<(usize, Added)> {
    let mut indices = Vec::with_capacity(chunk.len());
    let mut refused = Vec::with_capacity(chunk.len());
    let movies = chunk
        .into_iter()
        .map(|(index, item)| {
            indices.push(index);
            match item {
                Ok(fields) => {
                    refused.push(None);
                    Some(fields)
                }
                Err(why) => {
                    refused.push(Some(why));
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
        .map(|(index, (added, refused))| {
            let outcome = match (added, refused) {
                (_, Some(why)) => Err(why),
                (Some(outcome), None) => Ok(outcome),
                (None, None) => Ok(Err(CommandError::Internal(
                    "an import item was not added".into(),
                ))),
            };
            (index, outcome)
        })
        .collect()
}
