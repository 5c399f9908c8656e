//! A movie as clients send it, validated into fields or a patch of some of them.

use super::values::{parse_director, parse_genres, parse_imdb_score, parse_name, parse_popularity};
use super::MovieFields;
use crate::ValidationErrors;
use serde::{Deserialize, Serialize};

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
    pub(super) fn changes_from(&self, current: &MovieFields) -> MoviePatch {
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
