//! The extractors that turn a request into an [`Actor`] (see [`moviedb_service_kit::auth`]).

pub use moviedb_service_kit::auth::{bearer_token, Claims, Tokens};

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
        // As `moviedb_service_kit::auth::caller`, with the role from the command service, which
        // remembers admins and guards their appends (see `CommandService::current_role`).
        let Some(token) = bearer_token(&parts.headers)? else {
            return Ok(Caller(Actor::Anonymous));
        };
        let claims = state.tokens.verify(token)?;
        match state.commands.current_role(claims.sub).await? {
            Some(role) => Ok(Caller(Actor::User {
                id: claims.sub,
                role,
            })),
            None => Err(ApiError::Unauthorized("the token's user does not exist")),
        }
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
                moviedb_service_kit::auth::LOG_IN_FIRST,
            )),
            Caller(actor) => Ok(LoggedIn(actor)),
        }
    }
}
