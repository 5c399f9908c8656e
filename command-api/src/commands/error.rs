//! What a command can fail with, in the command side's own terms; the routes turn it into an
//! HTTP problem ([`ApiError`]) with [`From`], so the service itself knows nothing of HTTP.

use crate::error::ApiError;
use moviedb_domain::DomainError;
use moviedb_event_store::{AppendError, StoreError};
use uuid::Uuid;

/// Why a command was refused or could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The domain refused it: invalid fields, not allowed, no such aggregate.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The movie named does not exist (or was deleted).
    #[error("no such movie")]
    NoSuchMovie,
    /// Unknown e-mail or wrong password; the two are not told apart.
    #[error("wrong e-mail or password")]
    WrongCredentials,
    /// The request was decided on an admin role that its caller has lost meanwhile.
    #[error("only an admin may do this, and your role has changed")]
    NoLongerAdmin,
    /// The e-mail address belongs to another user.
    #[error("this e-mail address is already registered")]
    EmailTaken,
    /// A live movie has this name and director.
    #[error("a movie with this name and director already exists")]
    MovieExists {
        /// Its stream.
        owner: Uuid,
        /// It, as clients see it, when it could be read.
        movie: Option<Box<moviedb_wire::Movie>>,
    },
    /// `If-Match` named another version.
    #[error("the resource is at version {current}")]
    VersionMismatch {
        /// The current version.
        current: u64,
    },
    /// The store refused the append.
    #[error(transparent)]
    Append(#[from] AppendError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A bug or a failure with no better name (hashing, a stored event that does not decode).
    #[error("{0}")]
    Internal(String),
}

impl From<CommandError> for ApiError {
    fn from(error: CommandError) -> Self {
        match error {
            CommandError::Domain(e) => e.into(),
            CommandError::NoSuchMovie => ApiError::NotFound("no such movie".into()),
            CommandError::WrongCredentials => ApiError::Unauthorized("wrong e-mail or password"),
            CommandError::NoLongerAdmin => {
                ApiError::Forbidden("only an admin may do this, and your role has changed")
            }
            e @ CommandError::EmailTaken => ApiError::Conflict {
                detail: e.to_string(),
                existing: None,
            },
            CommandError::MovieExists { owner, movie } => {
                let id_only = || serde_json::json!({ "id": owner });
                ApiError::Conflict {
                    detail: "a movie with this name and director already exists".into(),
                    // No owner to name when the key was released again before it was read
                    // (a rename racing the add): the conflict stands, without an `existing`.
                    existing: (!owner.is_nil()).then(|| {
                        movie.map_or_else(id_only, |movie| {
                            serde_json::to_value(movie).unwrap_or_else(|_| id_only())
                        })
                    }),
                }
            }
            CommandError::VersionMismatch { current } => ApiError::PreconditionFailed { current },
            CommandError::Append(e) => append_error(e),
            CommandError::Store(e) => store_error(e),
            CommandError::Internal(e) => ApiError::Internal(e),
        }
    }
}

/// A store failure as an HTTP problem: 503 when retrying may help, 500 otherwise.
pub fn store_error(error: StoreError) -> ApiError {
    match error {
        StoreError::Unavailable(e) | StoreError::Contention(e) => ApiError::Unavailable(e),
        other => ApiError::Internal(other.to_string()),
    }
}

/// A refused append as an HTTP problem.
pub fn append_error(error: AppendError) -> ApiError {
    match error {
        AppendError::Conflict { .. } => ApiError::Conflict {
            detail: "the resource was changed by another request; reload it and retry".into(),
            existing: None,
        },
        AppendError::KeyTaken { kind, .. } => ApiError::Conflict {
            detail: format!("{kind} is already taken"),
            existing: None,
        },
        AppendError::GuardMoved { .. } => ApiError::Conflict {
            detail: "your account changed while the request ran; retry".into(),
            existing: None,
        },
        AppendError::IdempotencyKeyUsed => ApiError::IdempotencyRace,
        AppendError::Store(e) => store_error(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn existing(owner: Uuid) -> Option<serde_json::Value> {
        match ApiError::from(CommandError::MovieExists { owner, movie: None }) {
            ApiError::Conflict { existing, .. } => existing,
            other => panic!("expected a conflict, got {other:?}"),
        }
    }

    #[test]
    fn a_movie_conflict_names_its_owner_and_never_the_nil_id() {
        let owner = Uuid::now_v7();
        assert_eq!(existing(owner), Some(serde_json::json!({ "id": owner })));
        assert_eq!(existing(Uuid::nil()), None);
    }
}
