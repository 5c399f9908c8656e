//! Registration and roles: `POST /api/register/`, `POST /v1/users`, `PUT /v1/users/{id}/role`.

use super::{commit, outcome_response, replay};
use crate::auth::{Caller, LoggedIn};
use crate::error::ApiError;
use crate::idempotency::IdempotencyKey;
use crate::request::{from_value, if_match, metadata, parse_id, parse_json, Body};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{post, put};
use axum::Router;
use chrono::Utc;
use moviedb_domain::user::{RegisterUser, RegistrationInput};
use moviedb_domain::{FieldError, Role, ValidationErrors};
use serde_json::Value;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/register", post(register))
        .route("/v1/users", post(register))
        .route("/v1/users/{id}/role", put(change_role))
}

/// Registers a user. Anyone may register; only an admin may register an admin.
#[utoipa::path(post, path = "/v1/users", tag = "users", operation_id = "register",
    summary = "Register (anyone; an admin may register an admin)",
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeating a request with the same key replays its first answer")),
    request_body(content = moviedb_wire::schema::Registration, content_type = "application/json"),
    responses((status = 201, description = "Registered", body = moviedb_wire::schema::Registered, headers(
        ("etag" = String, description = "The user's version"),
        ("consistency-token" = String, description = "Send it with a read to see this user"),
        ("location" = String, description = "The user's URL")))),
    security((), ("bearer" = []), ("access_token" = [])))]
#[tracing::instrument(skip_all, err(level = "debug"))]
async fn register(
    State(state): State<AppState>,
    Caller(actor): Caller,
    peer: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    uri: Uri,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let key = IdempotencyKey::from_request(&headers, &actor, "POST", uri.path(), &body)?;
    if let Some(response) = replay(&state, key.as_ref()).await? {
        return Ok(response);
    }
    // A replayed answer is free; a new registration counts, except an admin's.
    let admin = matches!(
        actor,
        moviedb_domain::Actor::User {
            role: moviedb_domain::Role::Admin,
            ..
        }
    );
    if !admin {
        let client = state.throttle.client(peer.as_ref().map(|p| &p.0), &headers);
        state.throttle.register(client)?;
    }
    let input: RegistrationInput = parse_json(&headers, &body)?;
    let command = RegisterUser::parse(input, actor, Utc::now())?;
    let write = state
        .commands
        .register(command, &metadata(&headers, &actor))
        .await?;
    let location = format!("/v1/users/{}", write.outcome.stream_id);
    commit(
        &state,
        key.as_ref(),
        write,
        StatusCode::CREATED,
        Some(location),
    )
    .await
}

#[utoipa::path(put, path = "/v1/users/{id}/role", tag = "users", operation_id = "changeRole",
    summary = "Change a user's role (admins; never their own)",
    params(("id" = Uuid, Path, description = "The user"),
        ("If-Match" = Option<String>, Header, description = "Only if the user is at this version; 412 otherwise")),
    request_body(content = moviedb_wire::schema::RoleChange, content_type = "application/json"),
    responses((status = 200, description = "Changed", body = moviedb_wire::schema::RoleChanged, headers(
        ("etag" = String, description = "The user's new version"),
        ("consistency-token" = String, description = "Send it with a read to see the change")))),
    security(("bearer" = []), ("access_token" = [])))]
/// Gives a user another role. Admins only, and never their own.
#[tracing::instrument(skip_all, err(level = "debug"))]
async fn change_role(
    State(state): State<AppState>,
    LoggedIn(actor): LoggedIn,
    path: Result<Path<String>, axum::extract::rejection::PathRejection>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let Path(raw_id) = path.map_err(|e| ApiError::NotFound(e.body_text()))?;
    let user_id = parse_id(&raw_id, "user")?;
    let mut input: Value = parse_json(&headers, &body)?;
    let role = match input.get_mut("role").map(Value::take) {
        Some(role) => from_value::<Role>(role).map_err(|_| invalid_role())?,
        None => return Err(invalid_role()),
    };
    let (if_match, metadata) = (if_match(&headers)?, metadata(&headers, &actor));
    let commands = &state.commands;
    let outcome = commands
        .run(|| commands.change_role(user_id, role, if_match, actor, &metadata))
        .await?;
    Ok(outcome_response(StatusCode::OK, &outcome, None).into_response())
}

fn invalid_role() -> ApiError {
    ApiError::Invalid(ValidationErrors(vec![FieldError::new(
        "role",
        "must be `user` or `admin`",
    )]))
}
