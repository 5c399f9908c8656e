//! The movie aggregate: add, update, delete, set or remove its poster; admins only.

mod filter;
mod input;
mod poster;
mod values;

pub use filter::{GenreFilter, MovieFilter};
pub use input::{MovieInput, MoviePatch};
pub use poster::{extension, is_poster_hash, MoviePosterRemoved, Poster, POSTER_HASH_CHARS};

pub use values::{
    parse_director, parse_genres, parse_imdb_score, parse_name, parse_popularity, title_key,
    IMDB_SCORE_RANGE, MAX_GENRES, MAX_GENRE_CHARS, MAX_RAW_GENRES, MAX_TITLE_CHARS,
    POPULARITY_RANGE,
};

use crate::event::{from_payload, to_payload};
use crate::{Actor, Aggregate, DecodeError, DomainError, DomainEvent};
use serde::{Deserialize, Serialize};

/// A movie's fields, all validated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MovieFields {
    /// Title.
    pub name: String,
    /// Director.
    pub director: String,
    /// Genres, trimmed and de-duplicated.
    pub genres: Vec<String>,
    /// IMDb score, 0.0 to 10.0.
    pub imdb_score: f64,
    /// Popularity, 0 to 100.
    pub popularity: f64,
}

impl MovieFields {
    /// The uniqueness key of this movie (see [`title_key`]).
    pub fn title_key(&self) -> String {
        title_key(&self.name, &self.director)
    }
}

/// Commands on a movie stream. Every one needs an admin.
#[derive(Debug, Clone)]
pub enum MovieCommand {
    /// Add a new movie.
    Add {
        /// Its fields.
        fields: MovieFields,
        /// Who asks.
        actor: Actor,
    },
    /// Change some or all fields (PUT sends all, PATCH some).
    Update {
        /// The new values.
        patch: MoviePatch,
        /// Who asks.
        actor: Actor,
    },
    /// Delete the movie.
    Delete {
        /// Who asks.
        actor: Actor,
    },
    /// Show this poster (its images are stored already).
    SetPoster {
        /// The poster.
        poster: Poster,
        /// Who asks.
        actor: Actor,
    },
    /// Show no poster.
    RemovePoster {
        /// Who asks.
        actor: Actor,
    },
}

impl MovieCommand {
    fn actor(&self) -> &Actor {
        match self {
            MovieCommand::Add { actor, .. }
            | MovieCommand::Update { actor, .. }
            | MovieCommand::Delete { actor }
            | MovieCommand::SetPoster { actor, .. }
            | MovieCommand::RemovePoster { actor } => actor,
        }
    }
}

/// A movie was added.
pub type MovieAdded = MovieFields;
/// Some fields of a movie changed; only the changed ones are present.
pub type MovieUpdated = MoviePatch;

/// A movie was deleted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MovieDeleted {}

/// Events of a movie stream.
#[derive(Debug, Clone, PartialEq)]
pub enum MovieEvent {
    /// See [`MovieAdded`].
    Added(MovieAdded),
    /// See [`MovieUpdated`].
    Updated(MovieUpdated),
    /// See [`MovieDeleted`].
    Deleted(MovieDeleted),
    /// The movie shows this poster (stored as `MoviePosterSet`).
    PosterSet(Poster),
    /// The movie shows no poster (stored as `MoviePosterRemoved`).
    PosterRemoved(MoviePosterRemoved),
}

impl DomainEvent for MovieEvent {
    fn event_type(&self) -> &'static str {
        match self {
            MovieEvent::Added(_) => "MovieAdded",
            MovieEvent::Updated(_) => "MovieUpdated",
            MovieEvent::Deleted(_) => "MovieDeleted",
            MovieEvent::PosterSet(_) => "MoviePosterSet",
            MovieEvent::PosterRemoved(_) => "MoviePosterRemoved",
        }
    }

    fn schema_version(&self) -> u32 {
        1
    }

    fn payload(&self) -> serde_json::Value {
        match self {
            MovieEvent::Added(e) => to_payload(e),
            MovieEvent::Updated(e) => to_payload(e),
            MovieEvent::Deleted(e) => to_payload(e),
            MovieEvent::PosterSet(e) => to_payload(e),
            MovieEvent::PosterRemoved(e) => to_payload(e),
        }
    }

    fn decode(
        event_type: &str,
        schema_version: u32,
        payload: serde_json::Value,
    ) -> Result<Self, DecodeError> {
        match (event_type, schema_version) {
            ("MovieAdded", 1) => Ok(MovieEvent::Added(from_payload(event_type, payload)?)),
            ("MovieUpdated", 1) => Ok(MovieEvent::Updated(from_payload(event_type, payload)?)),
            ("MovieDeleted", 1) => Ok(MovieEvent::Deleted(from_payload(event_type, payload)?)),
            ("MoviePosterSet", 1) => Ok(MovieEvent::PosterSet(from_payload(event_type, payload)?)),
            ("MoviePosterRemoved", 1) => Ok(MovieEvent::PosterRemoved(from_payload(
                event_type, payload,
            )?)),
            (
                "MovieAdded" | "MovieUpdated" | "MovieDeleted" | "MoviePosterSet"
                | "MoviePosterRemoved",
                version,
            ) => Err(DecodeError::UnsupportedVersion {
                event_type: event_type.to_owned(),
                version,
            }),
            (other, _) => Err(DecodeError::UnknownType(other.to_owned())),
        }
    }
}

/// A movie's state, folded from its stream.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Movie {
    /// No stream yet.
    #[default]
    New,
    /// A live movie, and the poster it shows.
    Live(MovieFields, Option<Poster>),
    /// Deleted; its id is never reused.
    Deleted,
}

impl Movie {
    /// The fields of a live movie.
    pub fn fields(&self) -> Option<&MovieFields> {
        match self {
            Movie::Live(fields, _) => Some(fields),
            Movie::New | Movie::Deleted => None,
        }
    }

    /// The poster a live movie shows.
    pub fn poster(&self) -> Option<&Poster> {
        match self {
            Movie::Live(_, poster) => poster.as_ref(),
            Movie::New | Movie::Deleted => None,
        }
    }
}

impl Aggregate for Movie {
    type Command = MovieCommand;
    type Event = MovieEvent;
    const STREAM_TYPE: &'static str = "movie";

    fn decide(&self, command: &MovieCommand) -> Result<Vec<MovieEvent>, DomainError> {
        if !command.actor().is_admin() {
            return Err(DomainError::Forbidden(
                "only an admin can add, edit or delete movies",
            ));
        }
        match (self, command) {
            (Movie::New, MovieCommand::Add { fields, .. }) => {
                Ok(vec![MovieEvent::Added(fields.clone())])
            }
            (Movie::Live(..) | Movie::Deleted, MovieCommand::Add { .. }) => {
                Err(DomainError::AlreadyExists)
            }
            (Movie::Live(current, _), MovieCommand::Update { patch, .. }) => {
                let changes = patch.changes_from(current);
                if changes.is_empty() {
                    Ok(vec![])
                } else {
                    Ok(vec![MovieEvent::Updated(changes)])
                }
            }
            (Movie::Live(..), MovieCommand::Delete { .. }) => {
                Ok(vec![MovieEvent::Deleted(MovieDeleted {})])
            }
            // The same poster again changes nothing; removing none neither.
            (Movie::Live(_, current), MovieCommand::SetPoster { poster, .. }) => {
                if current.as_ref() == Some(poster) {
                    Ok(vec![])
                } else {
                    Ok(vec![MovieEvent::PosterSet(poster.clone())])
                }
            }
            (Movie::Live(_, current), MovieCommand::RemovePoster { .. }) => Ok(current
                .as_ref()
                .map(|_| MovieEvent::PosterRemoved(MoviePosterRemoved {}))
                .into_iter()
                .collect()),
            (
                Movie::New | Movie::Deleted,
                MovieCommand::Update { .. }
                | MovieCommand::Delete { .. }
                | MovieCommand::SetPoster { .. }
                | MovieCommand::RemovePoster { .. },
            ) => Err(DomainError::NotFound),
        }
    }

    fn evolve(self, event: &MovieEvent) -> Self {
        match (self, event) {
            (_, MovieEvent::Added(fields)) => Movie::Live(fields.clone(), None),
            (Movie::Live(fields, poster), MovieEvent::Updated(patch)) => {
                Movie::Live(patch.apply_to(fields), poster)
            }
            (Movie::Live(fields, _), MovieEvent::PosterSet(poster)) => {
                Movie::Live(fields, Some(poster.clone()))
            }
            (Movie::Live(fields, _), MovieEvent::PosterRemoved(_)) => Movie::Live(fields, None),
            (_, MovieEvent::Deleted(_)) => Movie::Deleted,
            (
                state,
                MovieEvent::Updated(_) | MovieEvent::PosterSet(_) | MovieEvent::PosterRemoved(_),
            ) => state,
        }
    }
}
