//! The other shapes of the API, for its OpenAPI document: what clients send, and the answers
//! the services build field by field. Each mirrors what a handler reads or writes; the HTTP
//! tests and the contract fuzzing check that the two agree.

pub use crate::images::{Binary, Configuration, ImagesConfiguration};
use crate::SearchHit;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A movie as sent to add or replace it: every field required (422 with the field errors
/// otherwise). PATCH takes any of these fields.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"name": "The Wizard of Oz", "director": "Victor Fleming",
    "genre": ["Adventure", "Family"], "imdb_score": 8.1, "99popularity": 83.0}))]
pub struct MovieInput {
    /// Title, 1 to 200 characters.
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// Director, 1 to 200 characters.
    #[schema(min_length = 1, max_length = 200)]
    pub director: String,
    /// 1 to 10 genres of 1 to 40 characters.
    #[schema(min_items = 1, max_items = 10)]
    pub genre: Vec<String>,
    /// 0.0 to 10.0.
    #[schema(minimum = 0.0, maximum = 10.0)]
    pub imdb_score: f64,
    /// 0 to 100.
    #[serde(rename = "99popularity")]
    #[schema(minimum = 0.0, maximum = 100.0)]
    pub popularity: f64,
}

/// A bulk add: 1 to 1 000 movies in one request, each its own write.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum MovieOrMovies {
    /// One movie: 201 with it.
    One(MovieInput),
    /// Several: 207 with each one's outcome.
    Many(Vec<MovieInput>),
}

/// The outcome of each movie of a bulk add, in the order sent.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BulkResult {
    /// Movies stored.
    pub created: u64,
    /// Movies refused.
    pub failed: u64,
    /// One entry per movie sent, in the order sent.
    pub results: Vec<BulkItem>,
}

/// One movie's outcome in a bulk add.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum BulkItem {
    /// Stored: the movie as a single add answers it, with its place in the request and 201.
    Created {
        /// Its place in the request, from 0.
        index: usize,
        /// 201.
        status: u16,
        /// The movie stored.
        #[serde(flatten)]
        movie: crate::Movie,
    },
    /// Refused: its place, the status a single add of it would have had, and why.
    Failed {
        /// Its place in the request, from 0.
        index: usize,
        /// The HTTP status of the refusal.
        status: u16,
        /// The problem document a single add would have answered.
        #[schema(value_type = Problem)]
        problem: serde_json::Value,
    },
}

/// A registration, in the original app's shape.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"name": "Ada", "email": "ada@example.com", "password": "Secret_123"}))]
pub struct Registration {
    /// Display name, 1 to 100 characters.
    pub name: String,
    /// Login address.
    pub email: String,
    /// 8 to 128 characters with a lower and an upper case letter, a digit and one of `_@$`.
    pub password: String,
    /// `true` for an admin (only an admin may ask for one).
    #[serde(default)]
    pub admin: Option<bool>,
    /// `user` or `admin` (the same, by name).
    #[serde(default)]
    pub role: Option<Role>,
}

/// A role.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads, registers.
    User,
    /// Also writes movies, lists users, changes roles.
    Admin,
}

/// A registered user, as the registration answers.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Registered {
    /// The user's id.
    pub id: Uuid,
    /// Stream version.
    pub version: u64,
    /// Display name.
    pub name: String,
    /// Login address.
    pub email: String,
    /// Their role.
    pub role: Role,
    /// The original app's message.
    pub message: String,
}

/// A role change.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RoleChange {
    /// The new role.
    pub role: Role,
}

/// A role changed.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RoleChanged {
    /// The user's id.
    pub id: Uuid,
    /// Stream version.
    pub version: u64,
    /// The new role.
    pub role: Role,
}

/// A movie deleted.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Deleted {
    /// The movie's id.
    pub id: Uuid,
    /// Stream version of the delete.
    pub version: u64,
    /// Always `true`.
    pub deleted: bool,
}

/// A login.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"email": "admin@example.com", "password": "Admin_pass1"}))]
pub struct Login {
    /// Login address.
    pub email: String,
    /// Password.
    pub password: String,
}

/// A session: the token to send as `x-access-token` or `Authorization: Bearer`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Session {
    /// A JWT (HS256).
    pub token: String,
    /// `Bearer`.
    pub token_type: String,
    /// Seconds it stays valid.
    pub expires_in: u64,
    /// Whose it is.
    pub user_id: Uuid,
    /// Their role.
    pub role: Role,
    /// The original app's message.
    pub message: String,
}

/// A user as admins see them: never a password or its hash.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct User {
    /// Id.
    pub id: Uuid,
    /// Display name.
    pub name: String,
    /// Login address.
    pub email: String,
    /// Role.
    pub role: Role,
    /// When they registered.
    pub registered_at: DateTime<Utc>,
    /// Stream version.
    pub version: u64,
}

/// What `total` is: Elasticsearch's `hits.total.relation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TotalRelation {
    /// `total` is the exact count.
    Eq,
    /// `total` is a lower bound: at least that many (10 000), counting stopped there.
    Gte,
}

impl TotalRelation {
    /// `Eq` for an exact total, else `Gte`.
    pub fn of(exact: bool) -> Self {
        if exact {
            Self::Eq
        } else {
            Self::Gte
        }
    }
}

/// A page of a list: its items and what clients need to draw paging. Every list of the API
/// answers one: movies (`Page_Movie`), users (`Page_User`), search hits (in `SearchPage`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Page<T> {
    /// The items on this page.
    pub items: Vec<T>,
    /// 1-based page number.
    pub page: u32,
    /// Items per page.
    pub per_page: u32,
    /// Items in the whole list: exact, except for a filtered movie list or a search (without
    /// `total=exact` or facets) of more than 10 000, where it is 10 000 and `total_relation`
    /// is `gte`.
    pub total: u64,
    /// Pages in `total`.
    pub total_pages: u64,
    /// Whether `total` is exact (`eq`) or a lower bound (`gte`).
    pub total_relation: TotalRelation,
}

impl<T> Page<T> {
    /// Page `page` of `per_page` (at least 1) holding `items`, of a list of `total` items
    /// (`exact`, or at least that many).
    pub fn new(items: Vec<T>, page: u32, per_page: u32, total: u64, exact: bool) -> Self {
        let per_page = per_page.max(1);
        Self {
            items,
            page,
            per_page,
            total,
            total_pages: total.div_ceil(u64::from(per_page)),
            total_relation: TotalRelation::of(exact),
        }
    }
}

/// How many hits have a genre.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct GenreCount {
    /// The genre, lower case.
    pub genre: String,
    /// Hits with it.
    pub count: u64,
}

/// Hits with an IMDb score in `[from, to)` (the last bucket includes 10).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ScoreBucket {
    /// Lower bound.
    pub from: f64,
    /// Upper bound.
    pub to: f64,
    /// Hits in it.
    pub count: u64,
}

/// The facets a search asked for (`facets=genre,imdb_score`), over every hit (not only this
/// page).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Facets {
    /// Hits per genre, largest first: with `facets=genre`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub genre: Option<Vec<GenreCount>>,
    /// Hits per score bucket of 1: with `facets=imdb_score`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imdb_score: Option<Vec<ScoreBucket>>,
}

/// A page of search hits: a `Page` with the query, the order and the facets asked for.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SearchPage {
    /// The hits and the totals.
    #[serde(flatten)]
    pub page: Page<SearchHit>,
    /// The query text, if any.
    pub q: Option<String>,
    /// The order used.
    pub sort_by: String,
    /// Counts over every hit, when `facets` asked for them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facets: Option<Facets>,
}

/// Suggestions: names that start with the letters typed.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Suggestions {
    /// The letters typed.
    pub q: String,
    /// Matching movies, most popular first.
    pub items: Vec<Suggestion>,
}

/// One suggestion: a movie's name and id.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Suggestion {
    /// The movie.
    pub id: Uuid,
    /// Its name.
    pub name: String,
}

/// A movie's history, oldest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct History {
    /// The movie.
    pub id: Uuid,
    /// Its events, oldest first.
    pub events: Vec<HistoryEvent>,
}

/// One event of a movie's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HistoryEvent {
    /// The event's id.
    pub event_id: Uuid,
    /// The stream version it made.
    pub version: u64,
    /// `MovieAdded`, `MovieUpdated`, ...
    pub event_type: String,
    /// The payload's schema version.
    pub schema_version: u32,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
    /// What it says.
    pub payload: serde_json::Value,
    /// Who did it, and the request it came from.
    pub metadata: serde_json::Value,
}

/// A health answer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: String,
}

/// An error, as RFC 9457 `application/problem+json`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    /// `/problems/<slug>`, for example `/problems/validation`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The status's reason phrase.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong, for a person.
    pub detail: String,
    /// With 422: the field errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
    /// With a 409 on name + director: the movie that has them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub existing: Option<serde_json::Value>,
    /// With 412: the version the resource is at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_version: Option<u64>,
}

/// One field's error.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FieldError {
    /// The field, as sent.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}
