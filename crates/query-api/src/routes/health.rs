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
    body.push_str(&staleness(&state).await?);
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

/// How stale the projection is, from the checkpoint every applying batch keeps (so it holds
/// whichever projector instance applied last, in this process or not): the age of the newest
/// event the read models hold, the age of the newest event stored, and how far the first
/// trails the second (0 when the projection has caught up; it grows while events are written
/// and none are applied: a dead or stuck projector).
async fn staleness(state: &QueryState) -> Result<String, ApiError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
    let seconds = |micros: i64| micros.max(0) as f64 / 1e6;
    let applied = state
        .read
        .checkpoint(moviedb_read_model::NEWEST_APPLIED)
        .await
        .map_err(super::read_error)?;
    let head = state.store.head_position().await?;
    let stored = if head > 0 {
        let newest = state.store.read_all(head - 1, 1).await?;
        newest.first().map(|e| e.recorded_at.timestamp_micros())
    } else {
        None
    };
    let mut body = String::new();
    if let Some(applied) = applied {
        body.push_str(&format!(
            "# HELP moviedb_projection_newest_event_age_seconds How long ago the newest event the read models hold was written.\n\
             # TYPE moviedb_projection_newest_event_age_seconds gauge\n\
             moviedb_projection_newest_event_age_seconds {}\n",
            seconds(now - applied)
        ));
    }
    if let Some(stored) = stored {
        body.push_str(&format!(
            "# HELP moviedb_event_store_newest_event_age_seconds How long ago the newest event was stored.\n\
             # TYPE moviedb_event_store_newest_event_age_seconds gauge\n\
             moviedb_event_store_newest_event_age_seconds {}\n",
            seconds(now - stored)
        ));
    }
    // Both known: before the first batch of a version that keeps the checkpoint, nothing.
    if let (Some(stored), Some(applied)) = (stored, applied) {
        body.push_str(&format!(
            "# HELP moviedb_projection_behind_seconds How much older the newest applied event is than the newest stored one (alert when above 30 for a minute).\n\
             # TYPE moviedb_projection_behind_seconds gauge\n\
             moviedb_projection_behind_seconds {}\n",
            seconds(stored - applied)
        ));
    }
    Ok(body)
}
