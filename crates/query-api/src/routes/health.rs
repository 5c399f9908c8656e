//! Liveness, readiness and metrics of the query side.

use crate::state::QueryState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use moviedb_http::ApiError;
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

/// Prometheus text: the projector's counters and lag when it runs in this process, and what
/// every instance can read: the dead-letter count and, on MySQL, the outbox backlog.
async fn metrics(State(state): State<QueryState>) -> Result<impl IntoResponse, ApiError> {
    let mut body = state
        .stats
        .as_ref()
        .map(|s| s.prometheus())
        .unwrap_or_default();
    let dead = state
        .read
        .dead_letter_count()
        .await
        .map_err(super::read_error)?;
    body.push_str(&format!(
        "# TYPE moviedb_dead_letters gauge\nmoviedb_dead_letters {dead}\n"
    ));
    // On MySQL, events not yet relayed: the first part of the lag, before Kafka.
    if let Some(outbox) = state.store.outbox() {
        let pending = outbox.pending_count().await?;
        body.push_str(&format!(
            "# HELP moviedb_outbox_pending Events stored but not yet relayed.\n\
             # TYPE moviedb_outbox_pending gauge\nmoviedb_outbox_pending {pending}\n"
        ));
    }
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body))
}
