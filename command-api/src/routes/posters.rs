//! A movie's poster, admins only: `PUT /v1/movies/{id}/poster` with the image as the body,
//! `DELETE` to show none. The sizes are made and stored before the event is appended, so an
//! event never names an image that is not there; an upload that dies in between leaves images
//! no movie shows, which the sweep deletes after its grace period.

use super::movies::movie_id;
use super::outcome_response;
use crate::auth::LoggedIn;
use crate::error::ApiError;
use crate::request::{if_match, metadata};
use crate::state::AppState;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::put;
use axum::Router;
use bytes::Bytes;
use moviedb_domain::movie::Poster;
use moviedb_images::{Format, ImageError, STORED_CONTENT_TYPE};

/// The extension of every stored size (see [`STORED_CONTENT_TYPE`]).
pub(crate) const STORED_EXTENSION: &str = "jpg";

/// The poster routes; their bodies may be up to `max_bytes`, the rest of the API's are not.
pub(super) fn router(max_bytes: usize) -> Router<AppState> {
    Router::new()
        .route("/v1/movies/{id}/poster", put(upload).delete(remove))
        .layer(DefaultBodyLimit::max(max_bytes))
}

fn image_error(error: ImageError) -> ApiError {
    match error {
        ImageError::TooLarge { max, .. } => ApiError::PayloadTooLarge(max),
        ImageError::UnsupportedType(_) => ApiError::UnsupportedMediaType(error.to_string()),
        other => ApiError::Unprocessable(other.to_string()),
    }
}

/// Sets a movie's poster from the image in the body: decoded within limits, turned upright,
/// made into every size without its metadata, stored by the hash of its content.
#[utoipa::path(put, path = "/v1/movies/{id}/poster", tag = "movies", operation_id = "setPoster",
    summary = "Set a movie's poster (admins)",
    params(("id" = Uuid, Path, description = "The movie"),
        ("If-Match" = Option<String>, Header, description = "Only if the movie is at this version (its ETag); 412 otherwise")),
    request_body(description = "A still JPEG, PNG or WebP image, at most MOVIEDB_POSTER_MAX_BYTES (10 MiB), 8 192 pixels a side and 16.7 million in all",
        content((moviedb_wire::schema::Binary = "image/jpeg"), (moviedb_wire::schema::Binary = "image/png"), (moviedb_wire::schema::Binary = "image/webp"))),
    responses(
        (status = 200, description = "The movie with its `poster_path`", body = moviedb_wire::Movie, headers(
            ("etag" = String, description = "The new version"),
            ("consistency-token" = String, description = "Send it with a read to see this write"))),
        (status = 413, description = "Larger than the limit", body = moviedb_wire::schema::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not image/jpeg, image/png or image/webp", body = moviedb_wire::schema::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a whole, still image of its type within the pixel limits", body = moviedb_wire::schema::Problem, content_type = "application/problem+json"),
        (status = 503, description = "The image store cannot be reached; nothing was changed", body = moviedb_wire::schema::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("access_token" = [])))]
#[tracing::instrument(skip_all, err(level = "debug"))]
async fn upload(
    State(state): State<AppState>,
    LoggedIn(actor): LoggedIn,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    if !actor.is_admin() {
        return Err(ApiError::Forbidden(
            "only an admin can add, edit or delete movies",
        ));
    }
    let id = movie_id(path)?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    Format::from_content_type(&content_type).map_err(image_error)?;
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge(state.posters.limits.max_bytes)
        } else {
            ApiError::BadRequest(rejection.body_text())
        }
    })?;
    let (if_match, metadata) = (if_match(&headers)?, metadata(&headers, &actor));
    // A missing movie or a stale If-Match is answered before the sizes are made.
    state.commands.check_movie(id, if_match).await?;
    let made = state
        .posters
        .process(body, content_type)
        .await?
        .map_err(image_error)?;
    state
        .posters
        .store
        .put(&made, STORED_EXTENSION)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let poster = Poster {
        hash: made.hash,
        width: made.width,
        height: made.height,
        content_type: STORED_CONTENT_TYPE.to_owned(),
    };
    tracing::info!(movie.id = %id, poster.hash = %poster.hash, "poster stored");
    let commands = &state.commands;
    let outcome = commands
        .run(|| commands.set_poster(id, Some(poster.clone()), if_match, actor, &metadata))
        .await?;
    Ok(outcome_response(StatusCode::OK, &outcome, None).into_response())
}

/// Shows no poster (its images stay until the sweep finds no movie showing them).
#[utoipa::path(delete, path = "/v1/movies/{id}/poster", tag = "movies", operation_id = "removePoster",
    summary = "Remove a movie's poster (admins)",
    params(("id" = Uuid, Path, description = "The movie"),
        ("If-Match" = Option<String>, Header, description = "Only if the movie is at this version (its ETag); 412 otherwise")),
    responses((status = 200, description = "The movie, its `poster_path` null", body = moviedb_wire::Movie, headers(
        ("etag" = String, description = "The new version"),
        ("consistency-token" = String, description = "Send it with a read to see this write")))),
    security(("bearer" = []), ("access_token" = [])))]
#[tracing::instrument(skip_all, err(level = "debug"))]
async fn remove(
    State(state): State<AppState>,
    LoggedIn(actor): LoggedIn,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = movie_id(path)?;
    let (if_match, metadata) = (if_match(&headers)?, metadata(&headers, &actor));
    let commands = &state.commands;
    let outcome = commands
        .run(|| commands.set_poster(id, None, if_match, actor, &metadata))
        .await?;
    Ok(outcome_response(StatusCode::OK, &outcome, None).into_response())
}
