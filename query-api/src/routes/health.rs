//! Liveness, readiness and metrics of the query side.

use crate::state::QueryState;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use moviedb_service_kit::gauges;
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

#[utoipa::path(get, path = "/health/live", tag = "operations", operation_id = "live",
    summary = "The process answers",
    responses((status = 200, description = "Alive", body = moviedb_wire::schema::Health)),
    security(()))]
async fn live() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Ready when the read models and the search index answer; 503 with `Retry-After` otherwise.
#[utoipa::path(get, path = "/health/ready", tag = "operations", operation_id = "ready",
    summary = "The read models and the search index answer",
    responses((status = 200, description = "Ready", body = moviedb_wire::schema::Health)),
    security(()))]
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

/// The request metrics; the in-process projector's counters and lag, when it runs here (they
/// include the rest); else the dead-letter count and how old the newest event the read models
/// hold is (from the checkpoint every applying batch keeps, so it holds whichever projector
/// instance applied last). The command API reports the age of the newest stored event: an
/// alert on the difference of the two catches a dead or stuck projector (see ARCHITECTURE.md).
#[utoipa::path(get, path = "/metrics", tag = "operations", operation_id = "metrics",
    summary = "Prometheus metrics",
    responses((status = 200, description = "Prometheus text", content_type = "text/plain", body = String)),
    security(()))]
async fn metrics(State(state): State<QueryState>) -> Result<Response, ApiError> {
    if let Some(local) = &state.local {
        local.report(&state.metrics).await;
        return Ok(state.metrics.response());
    }
    let dead = state
        .read
        .dead_letter_count()
        .await
        .map_err(super::read_error)?;
    let (name, help, value) = gauges::dead_letters(dead);
    state.metrics.set_gauge(name, help, value);
    let applied = state
        .read
        .checkpoint(moviedb_read_model::NEWEST_APPLIED)
        .await
        .map_err(super::read_error)?;
    if let Some((name, help, age)) = gauges::newest_applied(applied) {
        state.metrics.set_gauge(name, help, age);
    }
    Ok(state.metrics.response())
}
