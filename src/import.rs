//! `moviedb import FILE`: a catalogue in the original app's movie format (a JSON array, or one
//! movie per line) added through the command path, as an admin's bulk add would be: real
//! events, the same validation, the same uniqueness rule. A movie already in the catalogue
//! (same name and director) is counted, not added again, so a second run adds nothing and an
//! interrupted run can simply be run again.

use futures::StreamExt;
use moviedb_command_api::commands::{CommandError, CommandService};
use moviedb_domain::movie::MovieInput;
use moviedb_domain::Actor;
use moviedb_event_store::{AppendError, Metadata};
use serde_json::Value;

/// Movies in flight at once: enough for the store's group commit to pay.
const IN_FLIGHT: usize = 32;

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

/// The items of a catalogue: a JSON array, or one JSON value per line (blank lines skipped).
/// An item that is not JSON is kept as its error, to be reported with the others.
pub fn items(text: &str) -> anyhow::Result<Vec<Result<Value, String>>> {
    if text.trim_start().starts_with('[') {
        let array: Vec<Value> = serde_json::from_str(text)
            .map_err(|e| anyhow::anyhow!("the file is not a JSON array of movies: {e}"))?;
        return Ok(array.into_iter().map(Ok).collect());
    }
    Ok(text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).map_err(|e| format!("not JSON: {e}")))
        .collect())
}

enum Added {
    Created,
    Present,
    Rejected(String),
}

/// Adds `items` through `commands` as the operator; `progress` is told how many are done. A
/// failure of the store itself ends the import with an error: what was added stays, and a
/// second run goes on from there.
pub async fn import(
    commands: &CommandService,
    items: Vec<Result<Value, String>>,
    progress: impl Fn(u64),
) -> anyhow::Result<Summary> {
    let metadata = Metadata {
        actor_kind: Some("system".into()),
        ..Metadata::default()
    };
    let mut added = futures::stream::iter(items.into_iter().enumerate())
        .map(|(index, item)| {
            let metadata = &metadata;
            async move { (index, add(commands, item, metadata).await) }
        })
        .buffer_unordered(IN_FLIGHT);
    let mut summary = Summary::default();
    let mut done = 0;
    while let Some((index, outcome)) = added.next().await {
        match outcome? {
            Added::Created => summary.created += 1,
            Added::Present => summary.present += 1,
            Added::Rejected(why) => summary.rejected.push((index, why)),
        }
        done += 1;
        progress(done);
    }
    summary.rejected.sort();
    Ok(summary)
}

async fn add(
    commands: &CommandService,
    item: Result<Value, String>,
    metadata: &Metadata,
) -> anyhow::Result<Added> {
    let input: MovieInput = match item
        .and_then(|v| serde_json::from_value(v).map_err(|e| format!("not a movie: {e}")))
    {
        Ok(input) => input,
        Err(why) => return Ok(Added::Rejected(why)),
    };
    let fields = match input.parse_full() {
        Ok(fields) => fields,
        Err(errors) => return Ok(Added::Rejected(format!("invalid fields: {errors}"))),
    };
    let outcome = match commands.add_movie(fields, Actor::System, metadata).await {
        Ok(write) => commands.commit(write).await,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_array_and_lines_give_the_same_items_and_bad_lines_are_kept_as_errors() {
        let array = r#"[{"name": "A"}, {"name": "B"}]"#;
        let lines = "{\"name\": \"A\"}\n\n{\"name\": \"B\"}\nnot json\n";
        assert_eq!(items(array).expect("array").len(), 2);
        let lines = items(lines).expect("lines");
        assert_eq!(lines.len(), 3);
        assert!(lines[2].is_err());
        assert!(items("[{").is_err(), "a broken array is refused whole");
    }
}
