//! Read-your-writes: a query that carries the `Consistency-Token` a command returned waits,
//! bounded, until the read models reached every stream version in it.

use crate::state::QueryState;
use axum::http::HeaderMap;
use moviedb_domain::ConsistencyToken;
use moviedb_http::ApiError;
use std::time::Duration;
use tokio::time::Instant;

/// How often to re-check when no in-process projector can say it made progress.
const POLL: Duration = Duration::from_millis(10);

/// Returns once the read models are at or past the token, or 503 after `state.wait`.
pub async fn wait_for(headers: &HeaderMap, state: &QueryState) -> Result<(), ApiError> {
    let Some(raw) = headers.get("consistency-token") else {
        return Ok(());
    };
    let token: ConsistencyToken =
        raw.to_str()
            .ok()
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| {
                ApiError::BadRequest(
                    "malformed Consistency-Token: send back the header a write returned".into(),
                )
            })?;
    let streams: Vec<_> = token.0.iter().map(|s| s.stream_id).collect();
    let deadline = Instant::now() + state.wait;
    let mut progress = state.progress.clone();
    loop {
        if let Some(p) = progress.as_mut() {
            p.borrow_and_update();
        }
        let versions = state
            .read
            .versions(&streams)
            .await
            .map_err(crate::routes::read_error)?;
        let behind = token
            .0
            .iter()
            .filter(|s| versions.get(&s.stream_id).copied().unwrap_or(0) < s.version)
            .count();
        if behind == 0 {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(ApiError::NotCaughtUp(format!(
                "the read models have not reached this Consistency-Token after {} ms \
                 ({behind} stream(s) behind); retry shortly",
                state.wait.as_millis()
            )));
        }
        let nap = tokio::time::sleep_until(deadline.min(Instant::now() + POLL * 10));
        match progress.as_mut() {
            Some(p) => {
                tokio::select! {
                    _ = p.changed() => {},
                    () = nap => {},
                }
            }
            None => tokio::time::sleep(POLL.min(deadline - Instant::now())).await,
        }
    }
}
