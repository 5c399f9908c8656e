//! Read-your-writes: a query that carries the `Consistency-Token` a command returned waits,
//! bounded, until the read models (and, for a search, the index) reached every stream version
//! in it.

use crate::state::QueryState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use moviedb_domain::ConsistencyToken;
use moviedb_service_kit::ApiError;
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;
use uuid::Uuid;

/// How often to re-check when no in-process projector can say it made progress.
const POLL: Duration = Duration::from_millis(10);

/// The token a request carries, if any; 400 when it is malformed.
fn token(headers: &HeaderMap) -> Result<Option<ConsistencyToken>, ApiError> {
    let Some(raw) = headers.get("consistency-token") else {
        return Ok(None);
    };
    raw.to_str()
        .ok()
        .and_then(|t| t.parse().ok())
        .map(Some)
        .ok_or_else(|| {
            ApiError::BadRequest(
                "malformed Consistency-Token: send back the header a write returned".into(),
            )
        })
}

/// Runs `behind` (how many of the token's streams are not there yet) until it says none, woken
/// by the in-process projector's progress or by polling; 503 once `deadline` passed, saying
/// that `what` has not reached `wanted`.
async fn until_caught_up<F, Fut>(
    state: &QueryState,
    deadline: Instant,
    what: &str,
    behind: F,
) -> Result<(), ApiError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<usize, ApiError>>,
{
    until_reached(state, deadline, what, "this Consistency-Token", behind).await
}

async fn until_reached<F, Fut>(
    state: &QueryState,
    deadline: Instant,
    what: &str,
    wanted: &str,
    mut behind: F,
) -> Result<(), ApiError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<usize, ApiError>>,
{
    let mut progress = state.progress.clone();
    loop {
        if let Some(p) = progress.as_mut() {
            p.borrow_and_update();
        }
        let behind = behind().await?;
        if behind == 0 {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(ApiError::NotCaughtUp(format!(
                "the {what} have not reached {wanted} after {} ms \
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

/// Waits until the users projection holds every event of `user`'s stream in the event log,
/// so that the role an admin read is judged by is the role now: a demotion committed before
/// the read is seen, whether or not the projector has applied it (fail closed: past
/// `state.wait`, 503 with `Retry-After`, never the old role). The remaining window is the
/// event log's own lag where the query side reads a replica of it
/// (docs/decisions/0003-admin-reads-fail-closed.md).
pub async fn authority(state: &QueryState, user: Uuid) -> Result<(), ApiError> {
    // Unknown to the log (a token for a user that never was): nothing to wait for; the role
    // check that follows refuses it.
    let Some(head) = state.log.head(user).await.map_err(|e| {
        // The read database must be the event store's or a replica of it; if the log cannot
        // be read, no admin read is answered (fail closed).
        ApiError::Unavailable(format!(
            "cannot check the caller's role against the event log: {e}"
        ))
    })?
    else {
        return Ok(());
    };
    let deadline = Instant::now() + state.wait;
    until_reached(
        state,
        deadline,
        "read models",
        "the caller's newest event in the event log",
        || async {
            state
                .read
                .behind(&[(user, head)])
                .await
                .map_err(crate::routes::read_error)
        },
    )
    .await
}

/// Waits until the read models reached the request's token (if any); the token and the
/// deadline it was waited for under.
async fn read_models(
    headers: &HeaderMap,
    state: &QueryState,
) -> Result<Option<(ConsistencyToken, Instant)>, ApiError> {
    let Some(token) = token(headers)? else {
        return Ok(None);
    };
    let deadline = Instant::now() + state.wait;
    let wanted: Vec<(Uuid, u64)> = token.0.iter().map(|s| (s.stream_id, s.version)).collect();
    until_caught_up(state, deadline, "read models", || async {
        state
            .read
            .behind(&wanted)
            .await
            .map_err(crate::routes::read_error)
    })
    .await?;
    Ok(Some((token, deadline)))
}

/// The `Consistency-Token` header, for the OpenAPI document: declared here once and named by
/// every read that waits on it.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
pub struct ConsistencyHeader {
    /// A write's token: the read waits (up to MOVIEDB_CONSISTENCY_WAIT_MS) until the
    /// projections hold that write.
    #[param(rename = "Consistency-Token")]
    #[allow(dead_code)]
    consistency_token: Option<String>,
}

/// A read of the read models that sees the write its `Consistency-Token` names: extracting
/// it waits as [`wait_for`] does (a request without a token does not wait; a bad token is a
/// 400, a write not reached in time a 503).
pub struct Fresh;

impl FromRequestParts<QueryState> for Fresh {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &QueryState) -> Result<Self, ApiError> {
        wait_for(&parts.headers, state).await?;
        Ok(Self)
    }
}

/// As [`Fresh`], for a read of the search index: it waits as [`wait_for_index`] does.
pub struct FreshIndex;

impl FromRequestParts<QueryState> for FreshIndex {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &QueryState) -> Result<Self, ApiError> {
        wait_for_index(&parts.headers, state).await?;
        Ok(Self)
    }
}

/// Returns once the read models are at or past the token, or 503 after `state.wait`.
pub async fn wait_for(headers: &HeaderMap, state: &QueryState) -> Result<(), ApiError> {
    read_models(headers, state).await.map(|_| ())
}

/// As [`wait_for`], then also until the search index shows what the read models did: the
/// projector writes the index after the read models.
///
/// With the projector in this process, that is every index job queued by the time the read
/// models reached the token (so a search shows everything a read would). Otherwise each of the
/// token's movies must be in the index at its version; a stream the index has no document for
/// is waited for only while the read models hold a live movie for it (a user's stream never
/// enters the index, and a movie deleted before it was indexed has nothing to show).
pub async fn wait_for_index(headers: &HeaderMap, state: &QueryState) -> Result<(), ApiError> {
    let Some((token, deadline)) = read_models(headers, state).await? else {
        return Ok(());
    };
    if let Some(stats) = &state.local {
        let mut target = None;
        return until_caught_up(state, deadline, "search index", || {
            let behind = match target {
                None => match stats.index_target() {
                    Some(t) => {
                        target = Some(t);
                        usize::from(!stats.index_reached(t))
                    }
                    None => 1,
                },
                Some(t) => usize::from(!stats.index_reached(t)),
            };
            async move { Ok(behind) }
        })
        .await;
    }
    let streams: Vec<_> = token.0.iter().map(|s| s.stream_id).collect();
    until_caught_up(state, deadline, "search index", || async {
        // A tantivy index written by another process is seen once reloaded.
        state
            .search
            .refresh()
            .await
            .map_err(crate::routes::search_error)?;
        let indexed = state
            .search
            .versions(&streams)
            .await
            .map_err(crate::routes::search_error)?;
        let mut behind = 0;
        for wanted in &token.0 {
            match indexed.get(&wanted.stream_id) {
                Some(&version) if version >= wanted.version => {}
                Some(_) => behind += 1,
                None => {
                    let live = state
                        .read
                        .movie(wanted.stream_id)
                        .await
                        .map_err(crate::routes::read_error)?;
                    behind += usize::from(live.is_some());
                }
            }
        }
        Ok(behind)
    })
    .await
}
