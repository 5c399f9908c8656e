//! Reading the parts of a request: the JSON body (with every failure a problem document),
//! path ids, `If-Match`, and the metadata events carry.

use crate::error::ApiError;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap, StatusCode};
use moviedb_domain::Actor;
use moviedb_event_store::Metadata;
use serde::de::DeserializeOwned;
use uuid::Uuid;

/// The raw body, read within the size limit; over it is a 413 problem.
pub struct Body(pub Bytes);

impl FromRequest<AppState> for Body {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        // The router's `DefaultBodyLimit` bounds what `Bytes` buffers.
        match Bytes::from_request(req, state).await {
            Ok(bytes) => Ok(Body(bytes)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::PayloadTooLarge(state.body_limit))
            }
            Err(rejection) => Err(ApiError::BadRequest(rejection.body_text())),
        }
    }
}

/// Parses a JSON body: not JSON at all is 400, JSON of the wrong shape is 422.
pub fn parse_json<T: DeserializeOwned>(headers: &HeaderMap, body: &[u8]) -> Result<T, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if !(mime == "application/json"
        || (mime.starts_with("application/") && mime.ends_with("+json")))
    {
        return Err(ApiError::UnsupportedMediaType(
            "expected a body with content type application/json".into(),
        ));
    }
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("the body is not valid JSON: {e}")))?;
    from_value(value)
}

/// Deserialises an already parsed JSON value; a shape error is 422 naming the problem.
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    serde_json::from_value(value).map_err(|e| {
        ApiError::Unprocessable(format!("the body does not have the expected shape: {e}"))
    })
}

/// A path id; anything but a UUID is a 404 of that kind of resource.
pub fn parse_id(raw: &str, what: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::NotFound(format!("no such {what}: ids are UUIDs")))
}

/// The version named by `If-Match` (`"3"`, `W/"3"` or `3`); `*` and absence mean any.
pub fn if_match(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let raw = value
        .to_str()
        .map_err(|_| ApiError::BadRequest("malformed If-Match header".into()))?
        .trim();
    if raw == "*" {
        return Ok(None);
    }
    let tag = raw.strip_prefix("W/").unwrap_or(raw).trim_matches('"');
    tag.parse::<u64>().map(Some).map_err(|_| {
        ApiError::BadRequest("If-Match must be an ETag this API gave, like \"3\"".into())
    })
}

/// The longest `x-request-id` a request's events keep (a UUID is 36).
pub const MAX_REQUEST_ID: usize = 128;

/// The metadata a request's events carry.
pub fn metadata(headers: &HeaderMap, actor: &Actor) -> Metadata {
    let header_text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    Metadata {
        actor_id: actor.user_id(),
        actor_kind: matches!(actor, Actor::System).then(|| "system".to_owned()),
        // The client may set its own; one that is no plausible id is not kept in the log.
        request_id: header_text("x-request-id")
            .filter(|id| id.len() <= MAX_REQUEST_ID && id.bytes().all(|b| b.is_ascii_graphic())),
        idempotency_key: header_text("idempotency-key"),
    }
}
