//! Liveness, readiness and metrics of the query side.

use crate::state::QueryState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use moviedb_service_kit::ApiError;
use serde_json::{json, Value};

pub(super) fn router() -> Router<QueryState> {
    Router::new()
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
}

pub(super) fn metrics_router() -> Router<QueryState> {
    Router::new().route("/metrics", get(metrics))
}

async fn live() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Ready when the read models and the search index answer; 503 with `Retry-After` otherwise.
async fn ready(State(state): State<QueryState>) -> Result<Json<Value>, ApiError> {
    state
        .read
        .ping()
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    state
        .search
        .ping()
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    Ok(Json(
        json!({ "status": "ok", "read_models": "ok", "search": "ok" }),
    ))
}

/// Prometheus text: the in-process projector's counters and lag, when it runs here; the
/// dead-letter count and how old the newest event the read models hold is (from the
/// checkpoint every applying batch keeps, so it holds whichever projector instance applied
/// last). The command API reports the age of the newest stored event: an alert on the
/// difference of the two catches a dead or stuck projector (see ARCHITECTURE.md).
async fn metrics(State(state): State<QueryState>) -> Result<impl IntoResponse, ApiError> {
    let mut body = match &state.local {
        Some(local) => local.metrics().await,
        None => String::new(),
    };
    let dead = state
        .read
        .dead_letter_count()
        .await
        .map_err(super::read_error)?;
    body.push_str(&format!(
        "# TYPE moviedb_dead_letters gauge\nmoviedb_dead_letters {dead}\n"
    ));
    if state.local.is_none() {
        let applied = state
            .read
            .checkpoint(moviedb_read_model::NEWEST_APPLIED)
            .await
            .map_err(super::read_error)?;
        body.push_str(&moviedb_read_model::newest_applied_metrics(applied));
    }
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body))
}
