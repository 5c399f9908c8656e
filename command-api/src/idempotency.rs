//! `Idempotency-Key` on POST: a repeat of a request returns the first response and writes
//! nothing. Keys are scoped to the caller, and a key reused with a different request is a 422.
//! Only successful responses are remembered: a refused request wrote nothing and may be retried.

use crate::error::ApiError;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use moviedb_domain::Actor;
use moviedb_event_store::IdempotencyRecord;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// The longest key accepted.
pub const MAX_KEY_CHARS: usize = 255;

/// A request's idempotency key, with what identifies the request.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    scope: String,
    key: String,
    request_hash: String,
}

impl IdempotencyKey {
    /// Reads `Idempotency-Key`, if sent: 1 to 255 visible ASCII characters.
    pub fn from_request(
        headers: &HeaderMap,
        actor: &Actor,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> Result<Option<Self>, ApiError> {
        let Some(value) = headers.get("idempotency-key") else {
            return Ok(None);
        };
        let key = value
            .to_str()
            .ok()
            .map(|k| k.trim().trim_matches('"'))
            .filter(|k| {
                !k.is_empty() && k.len() <= MAX_KEY_CHARS && k.bytes().all(|b| b.is_ascii_graphic())
            })
            .ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "Idempotency-Key must be 1 to {MAX_KEY_CHARS} visible ASCII characters"
                ))
            })?;
        let scope = match actor {
            Actor::User { id, .. } => id.to_string(),
            Actor::Anonymous => "anonymous".to_owned(),
            Actor::System => "system".to_owned(),
        };
        let mut hasher = Sha256::new();
        for part in [method.as_bytes(), b"\n", path.as_bytes(), b"\n", body] {
            hasher.update(part);
        }
        let request_hash = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(Some(Self {
            scope,
            key: key.to_owned(),
            request_hash,
        }))
    }

    /// The remembered response, if this key was used before: a replay for the same request,
    /// a 422 for a different one.
    pub fn replay(&self, record: Option<IdempotencyRecord>) -> Result<Option<Response>, ApiError> {
        match record {
            None => Ok(None),
            Some(record) if record.request_hash == self.request_hash => {
                Ok(Some(stored_to_response(&record.response)))
            }
            Some(_) => Err(ApiError::Unprocessable(
                "this Idempotency-Key was used with a different request".into(),
            )),
        }
    }

    /// The scope (caller) and key, to look a record up.
    pub fn lookup(&self) -> (&str, &str) {
        (&self.scope, &self.key)
    }

    /// The record remembering `response` for this key.
    pub fn record(&self, response: &StoredResponse) -> IdempotencyRecord {
        IdempotencyRecord {
            scope: self.scope.clone(),
            key: self.key.clone(),
            request_hash: self.request_hash.clone(),
            response: json!({ "status": response.status.as_u16(), "headers": response.headers, "body": response.body }),
        }
    }
}

/// A response kept as data, so it can be both sent and remembered.
#[derive(Debug, Clone)]
pub struct StoredResponse {
    /// Status.
    pub status: StatusCode,
    /// Headers beyond the content type.
    pub headers: Vec<(String, String)>,
    /// JSON body.
    pub body: Value,
}

impl IntoResponse for StoredResponse {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body)).into_response();
        for (name, value) in self.headers {
            if let (Ok(name), Ok(value)) =
                (HeaderName::try_from(name), HeaderValue::try_from(value))
            {
                response.headers_mut().insert(name, value);
            }
        }
        response
    }
}

fn stored_to_response(stored: &Value) -> Response {
    let status = stored["status"]
        .as_u64()
        .and_then(|s| u16::try_from(s).ok())
        .and_then(|s| StatusCode::from_u16(s).ok());
    let headers = stored["headers"]
        .as_array()
        .map(|pairs| {
            pairs
                .iter()
                .filter_map(|p| {
                    Some((
                        p.get(0)?.as_str()?.to_owned(),
                        p.get(1)?.as_str()?.to_owned(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let mut response = StoredResponse {
        status: status.unwrap_or(StatusCode::OK),
        headers,
        body: stored["body"].clone(),
    }
    .into_response();
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}
