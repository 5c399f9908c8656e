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
use moviedb_command_api::commands::{CommandError, CommandService};
use moviedb_domain::movie::MovieFields;
use moviedb_domain::Actor;
use moviedb_event_store::{AppendError, Metadata};

/// Movies in flight at once: enough for the store's group commit to fill its groups.
const IN_FLIGHT: usize = 8192;

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

enum Added {
    Created,
    Present,
    Rejected(String),
}

/// Adds the movies of `catalogue` through `commands` as the operator; `progress` is told how
/// many items are done. A failure of the store itself ends the import with an error: what was
/// added stays, and a second run goes on from there.
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
    let mut pending: Vec<Item> = Vec::new();
    // Chunks are taken as the appends make room for them, so the reading thread stays a few
    // chunks ahead and no further.
    let mut added = futures::stream::FuturesUnordered::new();
    loop {
        while added.len() < IN_FLIGHT && !read_all {
            match pending.pop() {
                Some((index, item)) => {
                    let metadata = &metadata;
                    added.push(async move { (index, add(commands, item, metadata).await) });
                }
                None => match chunks.recv().await {
                    Some(Ok(chunk)) => {
                        pending = chunk;
                        pending.reverse();
                    }
                    Some(Err(e)) => {
                        failed = Some(e);
                        read_all = true;
                    }
                    None => read_all = true,
                },
            }
        }
        let Some((index, outcome)) = added.next().await else {
            break;
        };
        match outcome? {
            Added::Created => summary.created += 1,
            Added::Present => summary.present += 1,
            Added::Rejected(why) => summary.rejected.push((index, why)),
        }
        done += 1;
        progress(done);
    }
    if let Some(e) = failed {
        return Err(e);
    }
    summary.rejected.sort();
    Ok(summary)
}

async fn add(
    commands: &CommandService,
    item: Result<MovieFields, String>,
    metadata: &Metadata,
) -> anyhow::Result<Added> {
    let fields = match item {
        Ok(fields) => fields,
        Err(why) => return Ok(Added::Rejected(why)),
    };
    let outcome = match commands.add_movie(fields, Actor::System, metadata).await {
        Ok(write) => commands.commit_add(write).await,
        Err(e) => Err(e),
    };
    match outcome {
        Ok(_) => Ok(Added::Created),
        Err(CommandError::MovieExists { .. }) => Ok(Added::Present),
        Err(e @ (CommandError::Store(_) | CommandError::Append(AppendError::Store(_)))) => {
            Err(anyhow::anyhow!("the event store failed: {e}"))
        }
        Err(e) => Ok(Added::Rejected(e.to_string())),
    }
}
