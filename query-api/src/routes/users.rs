//! The user list, for admins: never a password or a hash (the read model holds neither).

use crate::params;
use crate::state::QueryState;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use moviedb_read_model::UserView;
use moviedb_service_kit::ApiError;
use moviedb_wire::schema::Page;

pub(super) fn router() -> Router<QueryState> {
    Router::new()
        .route("/api/user_list", get(list))
        .route("/v1/users", get(list))
}

/// A page of users (admins only).
#[utoipa::path(get, path = "/v1/users", tag = "users", operation_id = "listUsers",
    summary = "List users (admins); never a password or its hash",
    params(crate::params::PageParams, crate::consistency::ConsistencyHeader),
    responses((status = 200, description = "A page of users", body = Page<moviedb_wire::schema::User>)),
    security(("bearer" = []), ("access_token" = [])))]
async fn list(
    State(state): State<QueryState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Json<Page<UserView>>, ApiError> {
    super::require_admin(&headers, &state, "only admins may list users").await?;
    // `require_admin` waited for the request's Consistency-Token (the caller's role is read
    // from the projection once it holds the caller's whole stream).
    let (page, per_page) = params::paging(raw.as_deref())?;
    let users = state
        .read
        .users(page, per_page)
        .await
        .map_err(super::read_error)?;
    let per_page = per_page.clamp(1, moviedb_read_model::MAX_PER_PAGE);
    Ok(Json(Page::new(
        users.items,
        page,
        per_page,
        users.total,
        users.total_exact,
    )))
}
