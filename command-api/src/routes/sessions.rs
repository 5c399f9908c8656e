//! Logging in: `POST /api/login_user/` and `POST /v1/sessions` return a JWT.

use crate::error::ApiError;
use crate::request::{parse_json, Body};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use moviedb_domain::{FieldError, ValidationErrors};
use serde::Deserialize;
use serde_json::{json, Value};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/login_user", post(login))
        .route("/v1/sessions", post(login))
}

#[derive(Deserialize)]
struct LoginInput {
    email: Option<String>,
    password: Option<String>,
}

/// Checks e-mail and password and issues a token valid for 60 minutes (by default).
#[utoipa::path(post, path = "/v1/sessions", tag = "sessions", operation_id = "logIn",
    summary = "Log in: a token to send as x-access-token or Authorization: Bearer",
    request_body(content = moviedb_wire::schema::Login, content_type = "application/json"),
    responses((status = 201, description = "Logged in", body = moviedb_wire::schema::Session)),
    security(()))]
#[tracing::instrument(skip_all, err(level = "debug"))]
async fn login(
    State(state): State<AppState>,
    peer: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let input: LoginInput = parse_json(&headers, &body)?;
    let mut errors = ValidationErrors::default();
    let email = input.email.filter(|e| !e.trim().is_empty());
    let password = input.password.filter(|p| !p.is_empty());
    if email.is_none() {
        errors.push(FieldError::new("email", "is required"));
    }
    if password.is_none() {
        errors.push(FieldError::new("password", "is required"));
    }
    let (Some(email), Some(password)) = (email, password) else {
        return Err(ApiError::Invalid(errors));
    };
    // Every attempt counts, right or wrong: a guesser cannot tell a throttled right password
    // from a wrong one, and the owner gets in once the window has passed.
    let client = state.throttle.client(peer.as_ref().map(|p| &p.0), &headers);
    state.throttle.login(&email, client)?;
    let (user_id, role) = state.commands.authenticate(&email, &password).await?;
    let token = state.tokens.issue(user_id, role)?;
    tracing::info!(user.id = %user_id, "logged in");
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "token": token,
            "token_type": "Bearer",
            "expires_in": state.tokens.ttl().as_secs(),
            "user_id": user_id,
            "role": role,
            "message": format!("Logged in as {}", email.trim()),
        })),
    ))
}
