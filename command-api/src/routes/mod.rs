//! The HTTP surface: one router per resource, merged into [`api_router`]. The original app's
//! routes and `/v1` share the same handlers.

pub(crate) mod health;
pub(crate) mod movies;
pub(crate) mod posters;
pub(crate) mod sessions;
pub(crate) mod users;

use crate::commands::{store_error, Answer, CommandError, Outcome, Write};
use crate::error::ApiError;
use crate::idempotency::{IdempotencyKey, StoredResponse};
use crate::state::AppState;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Router;
use moviedb_domain::{ConsistencyToken, StreamVersion};
use serde_json::{json, Value};

/// Every route of the command side, with its middleware.
pub fn api_router(state: AppState) -> Router {
    let (body_limit, metrics) = (state.body_limit, state.metrics.clone());
    moviedb_service_kit::with_middleware(routes(state), body_limit, &metrics)
}

/// Every route of the command side without middleware, to merge with the query side's routes
/// in one process (then wrapped once by [`moviedb_service_kit::with_middleware`]).
pub fn routes(state: AppState) -> Router {
    Router::new()
        .merge(users::router())
        .merge(sessions::router())
        .merge(movies::router())
        .merge(posters::router(state.posters.limits.max_bytes))
        .merge(health::router())
        .with_state(state)
}

/// `/metrics` of a command API running on its own.
pub fn metrics(state: AppState) -> Router {
    health::metrics_router().with_state(state)
}

/// The response to a stored write: the resource, its version as `ETag`, and a
/// `Consistency-Token` for read-your-writes.
fn outcome_response(
    status: StatusCode,
    outcome: &Outcome,
    location: Option<String>,
) -> StoredResponse {
    let body = outcome_body(outcome);
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

/// What a client is told of a stored write: the resource as it is now, with its id and version.
fn outcome_body(outcome: &Outcome) -> Value {
    let (id, version) = (outcome.stream_id, outcome.version);
    match &outcome.answer {
        Answer::Movie(fields, poster_path) => {
            let mut movie = moviedb_wire::Movie::new(id, fields.clone(), version);
            movie.poster_path.clone_from(poster_path);
            serde_json::to_value(movie).unwrap_or_else(|_| json!({ "id": id, "version": version }))
        }
        Answer::Registered { name, email, role } => json!({
            "id": id,
            "version": version,
            "name": name,
            "email": email,
            "role": role,
            "message": format!("{name} ({email}) registered"),
        }),
        Answer::RoleChanged { role } => json!({ "id": id, "version": version, "role": role }),
        Answer::Deleted => json!({ "id": id, "version": version, "deleted": true }),
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
    key.replay(
        state
            .commands
            .store()
            .idempotency_record(scope, k)
            .await
            .map_err(store_error)?,
    )
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
        Err(CommandError::Append(moviedb_event_store::AppendError::IdempotencyKeyUsed)) => {
            replay(state, key).await?.ok_or(ApiError::IdempotencyRace)
        }
        Err(e) => Err(e.into()),
    }
}
