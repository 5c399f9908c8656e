//! The HTTP surface of the query side: the original app's routes and `/v1`, same handlers.

pub(crate) mod docs;
pub(crate) mod health;
pub(crate) mod images;
pub(crate) mod movies;
pub(crate) mod search;
pub(crate) mod users;

use crate::state::QueryState;
use axum::http::HeaderMap;
use axum::Router;
use moviedb_domain::Actor;
use moviedb_read_model::ReadModelError;
use moviedb_search::SearchError;
use moviedb_service_kit::ApiError;

/// Every query route without middleware and without health checks, to merge with the command
/// side's routes in one process.
pub fn routes(state: QueryState) -> Router {
    Router::new()
        .merge(movies::router())
        .merge(search::router())
        .merge(users::router())
        .merge(images::router())
        .merge(health::metrics_router())
        .with_state(state)
        .merge(docs::router())
}

/// Every route of a stand-alone query API, with its middleware.
pub fn api_router(state: QueryState, body_limit: usize) -> Router {
    let health = health::router().with_state(state.clone());
    let metrics = state.metrics.clone();
    moviedb_service_kit::with_middleware(routes(state).merge(health), body_limit, &metrics)
}

/// The caller, who must be an admin: 401 without a valid token, 403 for anyone else.
pub(crate) async fn require_admin(
    headers: &HeaderMap,
    state: &QueryState,
    refusal: &'static str,
) -> Result<Actor, ApiError> {
    let Some(token) = moviedb_service_kit::auth::bearer_token(headers)? else {
        return Err(ApiError::Unauthorized(
            moviedb_service_kit::auth::LOG_IN_FIRST,
        ));
    };
    let claims = state.tokens.verify(token)?;
    // The role as the users projection holds it, once it holds the caller's whole stream as
    // the event log has it: a demotion is seen even before the projector applied it.
    crate::consistency::wait_for(headers, state).await?;
    crate::consistency::authority(state, claims.sub).await?;
    let role = state
        .read
        .user_role(claims.sub)
        .await
        .map_err(read_error)?
        .ok_or(ApiError::Unauthorized("the token's user does not exist"))?;
    let actor = Actor::User {
        id: claims.sub,
        role,
    };
    if actor.is_admin() {
        Ok(actor)
    } else {
        Err(ApiError::Forbidden(refusal))
    }
}

/// A backend failure as an HTTP error: one worth retrying (busy, unreachable, partial) is 503,
/// the rest is ours (500, logged).
fn backend_error(transient: bool, error: impl std::fmt::Display) -> ApiError {
    if transient {
        ApiError::Unavailable(error.to_string())
    } else {
        ApiError::Internal(error.to_string())
    }
}

/// A read-model failure as an HTTP error.
pub(crate) fn read_error(error: ReadModelError) -> ApiError {
    backend_error(error.is_transient(), error)
}

/// A search failure as an HTTP error.
pub(crate) fn search_error(error: SearchError) -> ApiError {
    backend_error(error.is_transient(), error)
}
