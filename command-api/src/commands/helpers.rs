//! Small steps every command shares: a missing movie as 404, `If-Match`, events to append.

use super::CommandError;
use moviedb_domain::DomainEvent;
use moviedb_event_store::{Metadata, NewEvent};

pub(super) fn not_found_movie(error: moviedb_domain::DomainError) -> CommandError {
    match error {
        moviedb_domain::DomainError::NotFound => CommandError::NoSuchMovie,
        other => other.into(),
    }
}

pub(super) fn check_if_match(if_match: Option<u64>, current: u64) -> Result<(), CommandError> {
    match if_match {
        Some(expected) if expected != current => Err(CommandError::VersionMismatch { current }),
        _ => Ok(()),
    }
}

pub(super) fn new_events<E: DomainEvent>(events: &[E], metadata: &Metadata) -> Vec<NewEvent> {
    events
        .iter()
        .map(|e| NewEvent::from_domain(e, metadata))
        .collect()
}
