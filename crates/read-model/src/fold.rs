//! A rebuild's fast path: the whole event log folded in memory, stream by stream, into the
//! rows the read models end up with, then written in bulk ([`crate::ReadModels::load`]).
//!
//! Replaying event by event through [`crate::ReadModels::apply`] costs a few statements per
//! event; folding first writes each stream's final row once. The fold follows the same rules
//! as `apply` (see `apply.rs`): an event that `apply` would reject is set aside for the
//! dead-letter table and its stream goes on past it.

use chrono::{DateTime, Utc};
use moviedb_domain::movie::{Movie, MovieEvent, MovieFields};
use moviedb_domain::user::{User, UserEvent};
use moviedb_domain::Aggregate;
use moviedb_event_store::StoredEvent;
use std::collections::HashMap;
use uuid::Uuid;

/// What a stream's events add up to.
#[derive(Debug, Clone, PartialEq)]
pub enum FoldedState {
    /// A movie; `None` once deleted (its version is kept, so a late event cannot revive it).
    Movie {
        /// The live fields, if not deleted.
        fields: Option<MovieFields>,
        /// When it was added.
        created_at: DateTime<Utc>,
        /// When it last changed.
        updated_at: DateTime<Utc>,
        /// Its poster's path, if it has one.
        poster: Option<String>,
    },
    /// A user.
    User {
        /// Display name.
        name: String,
        /// Login address.
        email: String,
        /// `user` or `admin`.
        role: &'static str,
        /// When they registered.
        registered_at: DateTime<Utc>,
    },
    /// A stream none of whose events applied (every one dead-lettered).
    Nothing,
}

/// One stream, folded.
#[derive(Debug, Clone, PartialEq)]
pub struct FoldedStream {
    /// Stream id.
    pub id: Uuid,
    /// `movie` or `user`.
    pub stream_type: String,
    /// The last version seen.
    pub version: u64,
    /// Its state.
    pub state: FoldedState,
}

/// Streams folded so far, and the events set aside.
#[derive(Debug, Default)]
pub struct Fold {
    streams: HashMap<Uuid, FoldedStream>,
    order: Vec<Uuid>,
    rejected: Vec<(StoredEvent, String)>,
}

impl Fold {
    /// Adds the next event of its stream (events of one stream in version order; a version
    /// at or below the one folded is a duplicate and skipped).
    pub fn add(&mut self, event: &StoredEvent) {
        let slot = self.streams.entry(event.stream_id).or_insert_with(|| {
            self.order.push(event.stream_id);
            FoldedStream {
                id: event.stream_id,
                stream_type: event.stream_type.clone(),
                version: 0,
                state: FoldedState::Nothing,
            }
        });
        if event.version <= slot.version {
            return;
        }
        slot.version = event.version;
        if let Err(reason) = fold_one(&mut slot.state, event) {
            self.rejected.push((event.clone(), reason));
        }
    }

    /// The streams, in the order they first appeared, and the events `apply` would reject.
    pub fn finish(mut self) -> (Vec<FoldedStream>, Vec<(StoredEvent, String)>) {
        let streams = self
            .order
            .iter()
            .filter_map(|id| self.streams.remove(id))
            .collect();
        (streams, self.rejected)
    }
}

fn set_poster(
    state: &mut FoldedState,
    path: Option<String>,
    at: DateTime<Utc>,
) -> Result<(), String> {
    match state {
        FoldedState::Movie {
            fields: Some(_),
            poster,
            updated_at,
            ..
        } => {
            *poster = path;
            *updated_at = at;
            Ok(())
        }
        _ => Err("a poster of a movie the read model lacks".into()),
    }
}

fn fold_one(state: &mut FoldedState, event: &StoredEvent) -> Result<(), String> {
    let at = event.recorded_at;
    match event.stream_type.as_str() {
        Movie::STREAM_TYPE => match event.decode::<MovieEvent>().map_err(|e| e.to_string())? {
            MovieEvent::Added(fields) => {
                *state = FoldedState::Movie {
                    fields: Some(fields),
                    created_at: at,
                    updated_at: at,
                    poster: None,
                };
                Ok(())
            }
            MovieEvent::PosterSet(set) => set_poster(state, Some(set.path()), at),
            MovieEvent::PosterRemoved(_) => set_poster(state, None, at),
            MovieEvent::Updated(patch) => match state {
                FoldedState::Movie {
                    fields: fields @ Some(_),
                    updated_at,
                    ..
                } => {
                    *fields = fields.take().map(|f| patch.apply_to(f));
                    *updated_at = at;
                    Ok(())
                }
                _ => Err("an update of a movie the read model lacks".into()),
            },
            MovieEvent::Deleted(_) => {
                match state {
                    FoldedState::Movie { fields, .. } => *fields = None,
                    // `apply` deletes nothing and moves on.
                    other => {
                        *other = FoldedState::Movie {
                            fields: None,
                            created_at: at,
                            updated_at: at,
                            poster: None,
                        }
                    }
                }
                Ok(())
            }
        },
        User::STREAM_TYPE => match event.decode::<UserEvent>().map_err(|e| e.to_string())? {
            UserEvent::Registered(user) => {
                *state = FoldedState::User {
                    name: user.name,
                    email: user.email,
                    role: user.role.as_str(),
                    registered_at: user.registered_at,
                };
                Ok(())
            }
            UserEvent::RoleChanged(change) => {
                // `apply` updates the row if there is one.
                if let FoldedState::User { role, .. } = state {
                    *role = change.role.as_str();
                }
                Ok(())
            }
        },
        other => Err(format!("unknown stream type `{other}`")),
    }
}
