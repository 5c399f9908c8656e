//! Movie lists, details and history.

use crate::consistency::Fresh;
use crate::params;
use crate::state::QueryState;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use moviedb_read_model::MovieView;
use moviedb_service_kit::ApiError;
use moviedb_wire::schema::{History, Page};
use uuid::Uuid;

pub(super) fn router() -> Router<QueryState> {
    Router::new()
        .route("/api/movies_curd", get(list))
        .route("/v1/movies", get(list))
        .route("/single_movies/{id}", get(detail))
        .route("/v1/movies/{id}", get(detail))
        .route("/v1/movies/{id}/history", get(history))
}

/// A page of movies with `total` and `total_pages`.
#[utoipa::path(get, path = "/v1/movies", tag = "movies", operation_id = "listMovies",
    summary = "List movies: filter, sort, page",
    params(crate::params::MovieParams, crate::consistency::ConsistencyHeader),
    responses((status = 200, description = "A page of movies", body = Page<moviedb_wire::Movie>)),
    security(()))]
async fn list(
    State(state): State<QueryState>,
    RawQuery(raw): RawQuery,
    _seen: Fresh,
) -> Result<Json<Page<MovieView>>, ApiError> {
    let query = params::movie_query(raw.as_deref())?;
    let page = state.read.movies(&query).await.map_err(super::read_error)?;
    let per_page = query.per_page.clamp(1, moviedb_read_model::MAX_PER_PAGE);
    Ok(Json(Page::new(
        page.items,
        query.page,
        per_page,
        page.total,
        page.total_exact,
    )))
}

fn movie_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::NotFound("no such movie: ids are UUIDs".into()))
}

/// One movie, with its version as `ETag`; `If-None-Match` with that tag gives 304.
#[utoipa::path(get, path = "/v1/movies/{id}", tag = "movies", operation_id = "getMovie",
    summary = "One movie, with its version as ETag",
    params(("id" = Uuid, Path, description = "The movie"),
        ("If-None-Match" = Option<String>, Header, description = "Its ETag: 304 if it is still at that version"),
        ("Consistency-Token" = Option<String>, Header, description = "A write's token: the read waits (up to MOVIEDB_CONSISTENCY_WAIT_MS) until the projections hold that write")),
    responses(
        (status = 200, description = "The movie", body = moviedb_wire::Movie,
            headers(("etag" = String, description = "The movie's version, quoted"))),
        (status = 304, description = "Not changed since the ETag sent",
            headers(("etag" = String, description = "The movie's version, quoted"))),
    ),
    security(()))]
async fn detail(
    State(state): State<QueryState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    _seen: Fresh,
) -> Result<Response, ApiError> {
    let id = movie_id(&id)?;
    let movie = state
        .read
        .movie(id)
        .await
        .map_err(super::read_error)?
        .ok_or_else(|| ApiError::NotFound(format!("no movie with id {id}")))?;
    let etag = format!("\"{}\"", movie.version);
    let etag_value = HeaderValue::from_str(&etag).map_err(|e| ApiError::Internal(e.to_string()))?;
    if none_match(&headers, movie.version) {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag_value)]).into_response());
    }
    Ok(([(header::ETAG, etag_value)], Json(movie)).into_response())
}

/// Whether `If-None-Match` names this version (or is `*`).
fn none_match(headers: &HeaderMap, version: u64) -> bool {
    let Some(raw) = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    raw.split(',').any(|tag| {
        let tag = tag.trim();
        tag == "*" || tag.strip_prefix("W/").unwrap_or(tag).trim_matches('"') == version.to_string()
    })
}

/// The events of a movie, oldest first: an audit trail, for admins. Served from the history
/// the projector keeps (a request with a write's `Consistency-Token` sees that write in it).
#[utoipa::path(get, path = "/v1/movies/{id}/history", tag = "movies", operation_id = "movieHistory",
    summary = "A movie's events, oldest first (admins)",
    params(("id" = Uuid, Path, description = "The movie"), crate::consistency::ConsistencyHeader),
    responses((status = 200, description = "Its events", body = History)),
    security(("bearer" = []), ("access_token" = [])))]
async fn history(
    State(state): State<QueryState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<History>, ApiError> {
    super::require_admin(&headers, &state, "only admins may read a movie's history").await?;
    let id = movie_id(&id)?;
    let events = state
        .read
        .movie_history(id)
        .await
        .map_err(super::read_error)?;
    if events.is_empty() {
        return Err(ApiError::NotFound(format!("no movie with id {id}")));
    }
    Ok(Json(History { id, events }))
}
