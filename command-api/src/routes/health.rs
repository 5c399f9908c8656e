//! Liveness, readiness, and the metrics of a stand-alone command API.

use crate::commands::store_error;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use moviedb_service_kit::gauges;
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

/// The request metrics, how old the newest stored event is, and on MySQL the outbox backlog
/// and how long its oldest event has waited (a relay that stopped shows there; how stale the
/// projection is shows on the query API's and the projector's `/metrics`).
async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let store = state.commands.store();
    if let Some(stored) = store.newest_recorded_at().await.map_err(store_error)? {
        let (name, help, age) = gauges::newest_stored(stored);
        state.metrics.set_gauge(name, help, age);
    }
    #[cfg(feature = "mysql")]
    if let Some(outbox) = store.outbox() {
        let (pending, waited) = outbox.backlog().await.map_err(store_error)?;
        for (name, help, value) in gauges::outbox(pending, waited) {
            state.metrics.set_gauge(name, help, value);
        }
    }
    Ok(state.metrics.response())
}

async fn live() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Ready when the database answers; 503 with `Retry-After` otherwise.
async fn ready(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    state.commands.store().ping().await.map_err(store_error)?;
    Ok(Json(json!({ "status": "ok", "database": "ok" })))
}
