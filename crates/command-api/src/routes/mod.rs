//! The HTTP surface: one router per resource, merged into [`api_router`]. The original app's
//! routes and `/v1` share the same handlers.

mod health;
mod movies;
mod sessions;
mod users;

use crate::commands::{Outcome, Write};
use crate::error::ApiError;
use crate::idempotency::{IdempotencyKey, StoredResponse};
use crate::state::AppState;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Router;
use moviedb_domain::{ConsistencyToken, StreamVersion};
use serde_json::{json, Value};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

/// Every route of the command side, with its middleware.
pub fn api_router(state: AppState) -> Router {
    let body_limit = state.body_limit;
    Router::new()
        .merge(users::router())
        .merge(sessions::router())
        .merge(movies::router())
        .merge(health::router())
        .fallback(|| async { ApiError::Route(StatusCode::NOT_FOUND, "no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::Route(
                StatusCode::METHOD_NOT_ALLOWED,
                "this route does not accept that method",
            )
        })
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(CatchPanicLayer::custom(
            |_: Box<dyn std::any::Any + Send>| {
                ApiError::Internal("a handler panicked".into()).into_response()
            },
        ))
        .layer(PropagateRequestIdLayer::x_request_id())
        // Bodies are never logged: they may hold passwords.
        .layer(TraceLayer::new_for_http())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}

/// The response to a stored write: the resource, its version as `ETag`, and a
/// `Consistency-Token` for read-your-writes.
fn outcome_response(
    status: StatusCode,
    outcome: &Outcome,
    location: Option<String>,
) -> StoredResponse {
    let mut body = json!({ "id": outcome.stream_id, "version": outcome.version });
    if let (Some(body), Value::Object(view)) = (body.as_object_mut(), &outcome.view) {
        body.extend(view.clone());
    }
    let mut headers = vec![
        ("etag".to_owned(), format!("\"{}\"", outcome.version)),
        (
            "consistency-token".to_owned(),
            token(std::slice::from_ref(outcome)),
        ),
    ];
    headers.extend(location.map(|l| ("location".to_owned(), l)));
    StoredResponse {
        status,
        headers,
        body,
    }
}

fn token(outcomes: &[Outcome]) -> String {
    ConsistencyToken(
        outcomes
            .iter()
            .map(|o| StreamVersion {
                stream_id: o.stream_id,
                version: o.version,
            })
            .collect(),
    )
    .to_string()
}

/// Replays the first response if this idempotency key was seen.
async fn replay(
    state: &AppState,
    key: Option<&IdempotencyKey>,
) -> Result<Option<Response>, ApiError> {
    let Some(key) = key else { return Ok(None) };
    let (scope, k) = key.lookup();
    key.replay(state.commands.store().idempotency_record(scope, k).await?)
}

/// Stores a write (with its idempotency record, in the same transaction) and answers.
async fn commit(
    state: &AppState,
    key: Option<&IdempotencyKey>,
    mut write: Write,
    status: StatusCode,
    location: Option<String>,
) -> Result<Response, ApiError> {
    let response = outcome_response(status, &write.outcome, location);
    write.append.idempotency = key.map(|k| k.record(&response));
    match state.commands.commit(write).await {
        Ok(_) => Ok(response.into_response()),
        // A concurrent request with the same key won the race: answer as it did.
        Err(ApiError::IdempotencyRace) => {
            replay(state, key).await?.ok_or(ApiError::IdempotencyRace)
        }
        Err(e) => Err(e),
    }
}
