//! The user list, for admins: never a password or a hash (the read model holds neither).

use crate::consistency::wait_for;
use crate::params;
use crate::state::QueryState;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use moviedb_service_kit::ApiError;
use serde_json::Value;

pub(super) fn router() -> Router<QueryState> {
    Router::new()
        .route("/api/user_list", get(list))
        .route("/v1/users", get(list))
}

/// A page of users (admins only).
#[utoipa::path(get, path = "/v1/users", tag = "users", operation_id = "listUsers",
    summary = "List users (admins); never a password or its hash",
    params(crate::params::PageParams, ("Consistency-Token" = Option<String>, Header, description = "A write's token: the read waits (up to MOVIEDB_CONSISTENCY_WAIT_MS) until the projections hold that write")),
    responses((status = 200, description = "A page of users", body = moviedb_wire::schema::UserPage)),
    security(("bearer" = []), ("access_token" = [])))]
async fn list(
    State(state): State<QueryState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    super::require_admin(&headers, &state, "only admins may list users").await?;
    let (page, per_page) = params::paging(raw.as_deref())?;
    wait_for(&headers, &state).await?;
    let users = state
        .read
        .users(page, per_page)
        .await
        .map_err(super::read_error)?;
    Ok(Json(super::page_json(
        users
            .items
            .iter()
            .map(|u| serde_json::to_value(u).unwrap_or_default())
            .collect(),
        users.total,
        page,
        per_page,
    )))
}
