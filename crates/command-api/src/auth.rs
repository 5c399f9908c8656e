//! The extractors that turn a request into an [`Actor`] (see [`moviedb_http::auth`]).

pub use moviedb_http::auth::{bearer_token, Claims, Tokens};

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use moviedb_domain::Actor;

/// The caller: anonymous when no token was sent; a bad token is refused, never downgraded.
pub struct Caller(pub Actor);

/// The caller, who must have logged in.
pub struct LoggedIn(pub Actor);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        moviedb_http::auth::caller(
            &parts.headers,
            &state.tokens,
            state.commands.store().as_ref(),
        )
        .await
        .map(Caller)
    }
}

impl FromRequestParts<AppState> for LoggedIn {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match Caller::from_request_parts(parts, state).await? {
            Caller(Actor::Anonymous) => Err(ApiError::Unauthorized(
                "log in first: send `Authorization: Bearer <token>`",
            )),
            Caller(actor) => Ok(LoggedIn(actor)),
        }
    }
}
