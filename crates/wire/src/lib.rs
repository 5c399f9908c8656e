//! The JSON shapes clients see, with the original app's field names (`genre`,
//! `99popularity`). One movie type serves every answer that shows a movie: a command's answer,
//! a read-model view (detail, list page) and a search hit, so the field names are written once.

use chrono::{DateTime, Utc};
use moviedb_domain::movie::MovieFields;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

mod images;
pub mod schema;

/// A movie as clients see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Movie {
    /// Stream id.
    pub id: Uuid,
    /// Title.
    pub name: String,
    /// Director.
    pub director: String,
    /// Genres, as written.
    #[serde(rename = "genre")]
    pub genres: Vec<String>,
    /// 0.0 to 10.0.
    #[schema(minimum = 0.0, maximum = 10.0)]
    pub imdb_score: f64,
    /// 0 to 100.
    #[serde(rename = "99popularity")]
    #[schema(minimum = 0.0, maximum = 100.0)]
    pub popularity: f64,
    /// Stream version (the `ETag`).
    pub version: u64,
    /// When it was added; the read side knows it, a command's answer does not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
    /// When it last changed; as `created_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
    /// The poster, as TMDB's `poster_path`: `/{hash}.jpg`, joined with an image base URL and
    /// a size from `GET /v1/configuration`; `null` without one.
    #[serde(default)]
    #[schema(example = "/3dae4b2babd8974f6c4e39ea0edccd52.jpg")]
    pub poster_path: Option<String>,
}

impl Movie {
    /// The movie `id` at `version` with these fields, without timestamps.
    pub fn new(id: Uuid, fields: MovieFields, version: u64) -> Self {
        let MovieFields {
            name,
            director,
            genres,
            imdb_score,
            popularity,
        } = fields;
        Self {
            id,
            name,
            director,
            genres,
            imdb_score,
            popularity,
            version,
            created_at: None,
            updated_at: None,
            poster_path: None,
        }
    }
}

/// Where a search matched, with matched words in `<em>`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Highlight {
    /// The name, when the query matched it.
    pub name: Option<String>,
    /// The director, when the query matched it.
    pub director: Option<String>,
}

/// A search hit: the movie, its relevance and its highlights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SearchHit {
    /// The movie.
    #[serde(flatten)]
    pub movie: Movie,
    /// Relevance (0 without query text).
    pub score: f32,
    /// Matched words.
    pub highlight: Highlight,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_movie_carries_the_original_field_names_and_reads_back() {
        let fields = MovieFields {
            name: "Psycho".into(),
            director: "Alfred Hitchcock".into(),
            genres: vec!["Horror".into()],
            imdb_score: 8.5,
            popularity: 85.0,
        };
        let movie = Movie::new(Uuid::nil(), fields, 3);
        let json = serde_json::to_value(&movie).expect("serialises");
        assert_eq!(json["genre"][0], "Horror");
        assert_eq!(json["99popularity"], 85.0);
        assert!(json.get("created_at").is_none(), "{json}");
        assert!(json.get("genres").is_none(), "{json}");
        let back: Movie = serde_json::from_value(json).expect("reads back");
        assert_eq!(back, movie);
    }

    #[test]
    fn a_hit_is_the_movie_with_score_and_highlight_beside_it() {
        let movie = Movie::new(
            Uuid::nil(),
            MovieFields {
                name: "Vertigo".into(),
                director: "Alfred Hitchcock".into(),
                genres: vec![],
                imdb_score: 8.3,
                popularity: 83.0,
            },
            1,
        );
        let hit = SearchHit {
            movie,
            score: 1.5,
            highlight: Highlight {
                name: Some("<em>Vertigo</em>".into()),
                director: None,
            },
        };
        let json = serde_json::to_value(&hit).expect("serialises");
        assert_eq!(json["name"], "Vertigo");
        assert_eq!(json["score"], 1.5);
        assert_eq!(json["highlight"]["name"], "<em>Vertigo</em>");
        assert!(json["highlight"]["director"].is_null());
    }
}
