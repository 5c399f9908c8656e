//! The movie aggregate: add, update, delete, set or remove its poster; admins only.

mod filter;
mod poster;
mod values;

pub use filter::{GenreFilter, MovieFilter};
pub use poster::{extension, is_poster_hash, MoviePosterRemoved, Poster, POSTER_HASH_CHARS};

pub use values::{
    parse_director, parse_genres, parse_imdb_score, parse_name, parse_popularity, title_key,
    IMDB_SCORE_RANGE, MAX_GENRES, MAX_GENRE_CHARS, MAX_RAW_GENRES, MAX_TITLE_CHARS,
    POPULARITY_RANGE,
};

use crate::event::{from_payload, to_payload};
use crate::{Actor, Aggregate, DecodeError, DomainError, DomainEvent, ValidationErrors};
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

/// A movie as a client sends it, with the original app's field names. Every field optional
/// so that a missing one is reported with the others rather than as a parse failure.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct MovieInput {
    /// Title.
    pub name: Option<String>,
    /// Director.
    pub director: Option<String>,
    /// Genres.
    pub genre: Option<Vec<String>>,
    /// IMDb score.
    pub imdb_score: Option<f64>,
    /// Popularity.
    #[serde(rename = "99popularity")]
    pub popularity: Option<f64>,
}

impl MovieInput {
    /// Validates a complete movie: every field required.
    pub fn parse_full(&self) -> Result<MovieFields, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let required = |field: &str| crate::FieldError::new(field, "is required");
        let name = errors.check(
            self.name
                .as_deref()
                .map(parse_name)
                .unwrap_or_else(|| Err(required("name"))),
        );
        let director = errors.check(
            self.director
                .as_deref()
                .map(parse_director)
                .unwrap_or_else(|| Err(required("director"))),
        );
        let genres = errors.check(
            self.genre
                .as_deref()
                .map(parse_genres)
                .unwrap_or_else(|| Err(required("genre"))),
        );
        let imdb_score = errors.check(
            self.imdb_score
                .map(parse_imdb_score)
                .unwrap_or_else(|| Err(required("imdb_score"))),
        );
        let popularity = errors.check(
            self.popularity
                .map(parse_popularity)
                .unwrap_or_else(|| Err(required("99popularity"))),
        );
        match (name, director, genres, imdb_score, popularity) {
            (Some(name), Some(director), Some(genres), Some(imdb_score), Some(popularity)) => {
                Ok(MovieFields {
                    name,
                    director,
                    genres,
                    imdb_score,
                    popularity,
                })
            }
            _ => Err(errors),
        }
    }

    /// Validates a partial movie: the fields present are checked, at least one required.
    pub fn parse_patch(&self) -> Result<MoviePatch, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let patch = MoviePatch {
            name: self
                .name
                .as_deref()
                .and_then(|v| errors.check(parse_name(v))),
            director: self
                .director
                .as_deref()
                .and_then(|v| errors.check(parse_director(v))),
            genres: self
                .genre
                .as_deref()
                .and_then(|v| errors.check(parse_genres(v))),
            imdb_score: self
                .imdb_score
                .and_then(|v| errors.check(parse_imdb_score(v))),
            popularity: self
                .popularity
                .and_then(|v| errors.check(parse_popularity(v))),
        };
        if errors.is_empty() && patch.is_empty() {
            errors.push(crate::FieldError::new(
                "body",
                "must change at least one of name, director, genre, imdb_score, 99popularity",
            ));
        }
        if errors.is_empty() {
            Ok(patch)
        } else {
            Err(errors)
        }
    }
}

/// Some fields of a movie, validated. Also the payload of [`MovieUpdated`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MoviePatch {
    /// New title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// New director.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub director: Option<String>,
    /// New genres.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub genres: Option<Vec<String>>,
    /// New IMDb score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imdb_score: Option<f64>,
    /// New popularity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub popularity: Option<f64>,
}

impl MoviePatch {
    /// True when no field is set.
    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.director.is_none()
            && self.genres.is_none()
            && self.imdb_score.is_none()
            && self.popularity.is_none()
    }

    /// Every field set: a full replacement.
    pub fn replace_all(fields: MovieFields) -> Self {
        Self {
            name: Some(fields.name),
            director: Some(fields.director),
            genres: Some(fields.genres),
            imdb_score: Some(fields.imdb_score),
            popularity: Some(fields.popularity),
        }
    }

    /// Only the fields that differ from `current`.
    fn changes_from(&self, current: &MovieFields) -> MoviePatch {
        fn diff<T: PartialEq + Clone>(new: &Option<T>, old: &T) -> Option<T> {
            new.as_ref().filter(|v| *v != old).cloned()
        }
        MoviePatch {
            name: diff(&self.name, &current.name),
            director: diff(&self.director, &current.director),
            genres: diff(&self.genres, &current.genres),
            imdb_score: diff(&self.imdb_score, &current.imdb_score),
            popularity: diff(&self.popularity, &current.popularity),
        }
    }

    /// The fields after this change.
    pub fn apply_to(&self, mut fields: MovieFields) -> MovieFields {
        if let Some(v) = &self.name {
            fields.name.clone_from(v);
        }
        if let Some(v) = &self.director {
            fields.director.clone_from(v);
        }
        if let Some(v) = &self.genres {
            fields.genres.clone_from(v);
        }
        if let Some(v) = self.imdb_score {
            fields.imdb_score = v;
        }
        if let Some(v) = self.popularity {
            fields.popularity = v;
        }
        fields
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
