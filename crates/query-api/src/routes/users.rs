//! The user list, for admins: never a password or a hash (the read model holds neither).

use crate::consistency::wait_for;
use crate::params;
use crate::state::QueryState;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use moviedb_domain::Actor;
use moviedb_http::ApiError;
use serde_json::Value;

pub(super) fn router() -> Router<QueryState> {
    Router::new()
        .route("/api/user_list/", get(list))
        .route("/v1/users", get(list))
}

async fn list(
    State(state): State<QueryState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    match moviedb_http::auth::caller(&headers, &state.tokens, state.store.as_ref()).await? {
        Actor::Anonymous => {
            return Err(ApiError::Unauthorized(
                "log in first: send `Authorization: Bearer <token>`",
            ))
        }
        actor if !actor.is_admin() => {
            return Err(ApiError::Forbidden("only admins may list users"))
        }
        _ => {}
    }
    let (page, per_page) = params::paging(&params::pairs(raw.as_deref())?)?;
    wait_for(&headers, &state).await?;
    let users = state
        .read
        .users(page, per_page)
        .await
        .map_err(super::read_error)?;
    Ok(Json(super::page_json(
        users.items.iter().map(|u| u.to_json()).collect(),
        users.total,
        page,
        per_page,
    )))
}
