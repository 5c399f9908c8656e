//! Movie writes, admins only: `POST /api/movies_curd/` and `/v1/movies` (one movie or an array),
//! `PUT`/`DELETE /single_movies/{id}`, and `PUT`/`PATCH`/`DELETE /v1/movies/{id}`.

use super::{commit, outcome_response, replay, token};
use crate::auth::LoggedIn;
use crate::commands::{Answer, Outcome, Taken};
use crate::error::ApiError;
use crate::idempotency::{IdempotencyKey, StoredResponse};
use crate::request::{from_value, if_match, metadata, parse_id, parse_json, Body};
use crate::state::AppState;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{post, put};
use axum::Router;
use moviedb_domain::movie::{MovieFields, MovieInput, MoviePatch};
use moviedb_domain::Actor;
use moviedb_wire::schema::{BulkItem, BulkResult};
use serde_json::Value;

/// The most movies one bulk request may add.
pub const MAX_BULK: usize = 1000;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/movies_curd", post(create))
        .route("/v1/movies", post(create))
        .route("/single_movies/{id}", put(replace).delete(delete))
        .route("/v1/movies/{id}", put(replace).patch(patch).delete(delete))
}

pub(super) fn movie_id(path: Result<Path<String>, PathRejection>) -> Result<uuid::Uuid, ApiError> {
    let Path(raw) = path.map_err(|e| ApiError::NotFound(e.body_text()))?;
    parse_id(&raw, "movie")
}

/// Adds one movie (201) or an array of them (207, each with its own status). Each movie of an
/// array is its own transaction: one bad movie does not stop the others.
#[utoipa::path(post, path = "/v1/movies", tag = "movies", operation_id = "addMovies",
    summary = "Add a movie, or 1 to 1 000 in one request (admins)",
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeating a request with the same key replays its first answer and writes nothing")),
    request_body(content = moviedb_wire::schema::MovieOrMovies, content_type = "application/json"),
    responses(
        (status = 201, description = "Added", body = moviedb_wire::Movie, headers(
            ("etag" = String, description = "The movie's version, quoted"),
            ("consistency-token" = String, description = "Send it with a read to see this write"),
            ("location" = String, description = "The movie's URL"))),
        (status = 207, description = "A bulk add: each movie's outcome, in the order sent", body = moviedb_wire::schema::BulkResult,
            headers(("consistency-token" = String, description = "Covers every movie stored"))),
    ),
    security(("bearer" = []), ("access_token" = [])))]
#[tracing::instrument(skip_all, err(level = "debug"))]
async fn create(
    State(state): State<AppState>,
    LoggedIn(actor): LoggedIn,
    uri: Uri,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, ApiError> {
    if !actor.is_admin() {
        return Err(ApiError::Forbidden(
            "only an admin can add, edit or delete movies",
        ));
    }
    let key = IdempotencyKey::from_request(&headers, &actor, "POST", uri.path(), &body)?;
    if let Some(response) = replay(&state, key.as_ref()).await? {
        return Ok(response);
    }
    match parse_json::<Value>(&headers, &body)? {
        Value::Array(items) => {
            let response = create_many(&state, actor, &headers, items).await?;
            if let Some(key) = &key {
                // A bulk add spans several transactions, so its record is stored after them.
                state
                    .commands
                    .store()
                    .save_idempotency_record(key.record(&response))
                    .await
                    .map_err(crate::commands::append_error)?;
            }
            Ok(response.into_response())
        }
        single => {
            let fields = from_value::<MovieInput>(single)?.parse_full()?;
            let write = state
                .commands
                .add_movie(fields, actor, &metadata(&headers, &actor))
                .await?;
            let location = format!("/v1/movies/{}", write.outcome.stream_id);
            commit(
                &state,
                key.as_ref(),
                write,
                StatusCode::CREATED,
                Some(location),
            )
            .await
        }
    }
}

async fn create_many(
    state: &AppState,
    actor: Actor,
    headers: &HeaderMap,
    items: Vec<Value>,
) -> Result<StoredResponse, ApiError> {
    if items.is_empty() || items.len() > MAX_BULK {
        return Err(ApiError::Unprocessable(format!(
            "a bulk add takes 1 to {MAX_BULK} movies"
        )));
    }
    let metadata = metadata(headers, &actor);
    // The one bulk path (`CommandService::add_movies`): items that are not movies keep their
    // refusal, the rest are added together.
    let mut refused: Vec<Option<ApiError>> = Vec::with_capacity(items.len());
    let movies: Vec<Option<MovieFields>> = items
        .into_iter()
        .map(
            |item| match from_value::<MovieInput>(item).and_then(|m| Ok(m.parse_full()?)) {
                Ok(fields) => {
                    refused.push(None);
                    Some(fields)
                }
                Err(e) => {
                    refused.push(Some(e));
                    None
                }
            },
        )
        .collect();
    let added = state
        .commands
        .add_movies(movies, actor, &metadata, Taken::Named)
        .await;
    let outcomes: Vec<Option<Result<Outcome, ApiError>>> = added
        .into_iter()
        .zip(refused)
        .map(|(added, refused)| match refused {
            Some(e) => Some(Err(e)),
            None => added.map(|o| o.map_err(ApiError::from)),
        })
        .collect();
    let mut outcomes: Vec<Result<Outcome, ApiError>> = outcomes
        .into_iter()
        .map(|o| o.unwrap_or_else(|| Err(ApiError::Internal("bulk item not written".into()))))
        .collect();
    // The database being down is no movie's fault: if nothing was stored, say so as a whole
    // (503) rather than as a list of failures.
    if outcomes.iter().all(Result::is_err) {
        let down = outcomes
            .iter()
            .position(|o| matches!(o, Err(ApiError::Unavailable(_))));
        if let Some(Err(e)) = down.map(|i| outcomes.swap_remove(i)) {
            return Err(e);
        }
    }
    let mut results = Vec::with_capacity(outcomes.len());
    let mut created: Vec<Outcome> = Vec::new();
    for (index, outcome) in outcomes.into_iter().enumerate() {
        match outcome {
            Ok(outcome) => {
                let Answer::Movie(fields, _) = &outcome.answer else {
                    return Err(ApiError::Internal("an add answered no movie".into()));
                };
                let movie =
                    moviedb_wire::Movie::new(outcome.stream_id, fields.clone(), outcome.version);
                results.push(BulkItem::Created {
                    index,
                    status: StatusCode::CREATED.as_u16(),
                    movie,
                });
                created.push(outcome);
            }
            Err(e) => {
                if e.status_code().is_server_error() {
                    tracing::error!(error = %e, index, "bulk add: movie failed");
                }
                results.push(BulkItem::Failed {
                    index,
                    status: e.status_code().as_u16(),
                    problem: e.problem(),
                });
            }
        }
    }
    let failed = results.len() - created.len();
    let mut headers = Vec::new();
    if !created.is_empty() {
        headers.push(("consistency-token".to_owned(), token(&created)));
    }
    Ok(StoredResponse {
        status: StatusCode::MULTI_STATUS,
        headers,
        body: serde_json::to_value(BulkResult {
            created: created.len() as u64,
            failed: failed as u64,
            results,
        })
        .map_err(|e| ApiError::Internal(format!("a bulk answer did not serialise: {e}")))?,
    })
}

/// Replaces every field (all required). `If-Match` makes it conditional.
#[utoipa::path(put, path = "/v1/movies/{id}", tag = "movies", operation_id = "replaceMovie",
    summary = "Replace a movie's fields (admins)",
    params(("id" = Uuid, Path, description = "The movie"),
        ("If-Match" = Option<String>, Header, description = "Only if the movie is at this version (its ETag); 412 otherwise")),
    request_body(content = moviedb_wire::schema::MovieInput, content_type = "application/json"),
    responses((status = 200, description = "Replaced", body = moviedb_wire::Movie, headers(
        ("etag" = String, description = "The new version"),
        ("consistency-token" = String, description = "Send it with a read to see this write")))),
    security(("bearer" = []), ("access_token" = [])))]
#[tracing::instrument(skip_all, err(level = "debug"))]
async fn replace(
    State(state): State<AppState>,
    LoggedIn(actor): LoggedIn,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let id = movie_id(path)?;
    let input: MovieInput = parse_json(&headers, &body)?;
    let patch = MoviePatch::replace_all(input.parse_full()?);
    update(&state, actor, id, patch, &headers).await
}

/// Changes the fields sent. `If-Match` makes it conditional.
#[utoipa::path(patch, path = "/v1/movies/{id}", tag = "movies", operation_id = "patchMovie",
    summary = "Change some of a movie's fields (admins)",
    params(("id" = Uuid, Path, description = "The movie"),
        ("If-Match" = Option<String>, Header, description = "Only if the movie is at this version (its ETag); 412 otherwise")),
    request_body(content = serde_json::Value, content_type = "application/json",
        description = "Any of the fields of MovieInput", example = json!({"imdb_score": 8.2})),
    responses((status = 200, description = "Changed", body = moviedb_wire::Movie, headers(
        ("etag" = String, description = "The new version"),
        ("consistency-token" = String, description = "Send it with a read to see this write")))),
    security(("bearer" = []), ("access_token" = [])))]
#[tracing::instrument(skip_all, err(level = "debug"))]
async fn patch(
    State(state): State<AppState>,
    LoggedIn(actor): LoggedIn,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let id = movie_id(path)?;
    let input: MovieInput = parse_json(&headers, &body)?;
    update(&state, actor, id, input.parse_patch()?, &headers).await
}

async fn update(
    state: &AppState,
    actor: Actor,
    id: uuid::Uuid,
    patch: MoviePatch,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let (if_match, metadata) = (if_match(headers)?, metadata(headers, &actor));
    let commands = &state.commands;
    let outcome = commands
        .run(|| commands.update_movie(id, patch.clone(), if_match, actor, &metadata))
        .await?;
    Ok(outcome_response(StatusCode::OK, &outcome, None).into_response())
}

/// Deletes a movie; its name + director may then be used again.
#[utoipa::path(delete, path = "/v1/movies/{id}", tag = "movies", operation_id = "deleteMovie",
    summary = "Delete a movie (admins)",
    params(("id" = Uuid, Path, description = "The movie"),
        ("If-Match" = Option<String>, Header, description = "Only if the movie is at this version (its ETag); 412 otherwise")),
    responses((status = 200, description = "Deleted", body = moviedb_wire::schema::Deleted, headers(
        ("etag" = String, description = "The version of the delete"),
        ("consistency-token" = String, description = "Send it with a read to see the movie gone")))),
    security(("bearer" = []), ("access_token" = [])))]
#[tracing::instrument(skip_all, err(level = "debug"))]
async fn delete(
    State(state): State<AppState>,
    LoggedIn(actor): LoggedIn,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = movie_id(path)?;
    let (if_match, metadata) = (if_match(&headers)?, metadata(&headers, &actor));
    let commands = &state.commands;
    let outcome = commands
        .run(|| commands.delete_movie(id, if_match, actor, &metadata))
        .await?;
    Ok(outcome_response(StatusCode::OK, &outcome, None).into_response())
}
