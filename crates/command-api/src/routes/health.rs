//! Liveness, readiness, and the metrics of a stand-alone command API.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
}

/// `/metrics` of a command API on its own (in one process with the query side, that side's
/// `/metrics` says all this and more).
pub(crate) fn metrics_router() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

/// Prometheus text: how old the newest stored event is, and on MySQL the outbox backlog and
/// how long its oldest event has waited (a relay that stopped shows there; how stale the
/// projection is shows on the query API's and the projector's `/metrics`).
async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let store = state.commands.store();
    let mut body = String::new();
    let head = store.head_position().await?;
    if head > 0 {
        if let Some(newest) = store.read_all(head - 1, 1).await?.first() {
            let age = (chrono::Utc::now() - newest.recorded_at)
                .to_std()
                .unwrap_or_default();
            body.push_str(&format!(
                "# HELP moviedb_event_store_newest_event_age_seconds How long ago the newest event was stored.\n\
                 # TYPE moviedb_event_store_newest_event_age_seconds gauge\n\
                 moviedb_event_store_newest_event_age_seconds {}\n",
                age.as_secs_f64()
            ));
        }
    }
    if let Some(outbox) = store.outbox() {
        let pending = outbox.pending_count().await?;
        let waited = outbox.oldest_pending_age().await?.unwrap_or_default();
        body.push_str(&format!(
            "# HELP moviedb_outbox_pending Events stored but not yet relayed.\n\
             # TYPE moviedb_outbox_pending gauge\nmoviedb_outbox_pending {pending}\n\
             # HELP moviedb_outbox_oldest_pending_age_seconds How long the oldest event not yet relayed has waited (alert when above 30).\n\
             # TYPE moviedb_outbox_oldest_pending_age_seconds gauge\n\
             moviedb_outbox_oldest_pending_age_seconds {}\n",
            waited.as_secs_f64()
        ));
    }
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        body,
    ))
}

async fn live() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Ready when the database answers; 503 with `Retry-After` otherwise.
async fn ready(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    state.commands.store().ping().await?;
    Ok(Json(json!({ "status": "ok", "database": "ok" })))
}
