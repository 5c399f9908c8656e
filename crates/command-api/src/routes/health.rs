//! Liveness and readiness.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
}

async fn live() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Ready when the database answers; 503 with `Retry-After` otherwise.
async fn ready(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    state.commands.store().ping().await?;
    Ok(Json(json!({ "status": "ok", "database": "ok" })))
}
