//! One error type for the HTTP services, rendered as RFC 9457 `application/problem+json`.
//!
//! 5xx details are logged once here and never sent to the client.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use moviedb_domain::{DomainError, ValidationErrors};
use serde_json::{json, Value};

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Everything a command request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not JSON, or a header is malformed (400).
    #[error("{0}")]
    BadRequest(String),
    /// No token, or a bad one (401).
    #[error("{0}")]
    Unauthorized(&'static str),
    /// The actor may not do this (403).
    #[error("{0}")]
    Forbidden(&'static str),
    /// No such resource (404).
    #[error("{0}")]
    NotFound(String),
    /// No such route or method (404 / 405).
    #[error("{1}")]
    Route(StatusCode, &'static str),
    /// A conflicting write, or a resource that already exists (409).
    #[error("{detail}")]
    Conflict {
        /// What conflicts.
        detail: String,
        /// The existing resource, when a uniqueness rule was hit.
        existing: Option<Value>,
    },
    /// Another request with the same `Idempotency-Key` is being processed (409).
    #[error("a request with this Idempotency-Key is already being processed")]
    IdempotencyRace,
    /// `If-Match` does not name the current version (412).
    #[error("the resource is at version {current}, not the one in If-Match")]
    PreconditionFailed {
        /// The current version.
        current: u64,
    },
    /// The body is over the limit (413).
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// A body of a type the route does not take (415); says which it takes.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The one byte range asked for is not within the resource of this length (416).
    #[error("the range asked for is not within the {0} bytes there are")]
    RangeNotSatisfiable(u64),
    /// Fields broke rules (422).
    #[error("invalid fields: {0}")]
    Invalid(ValidationErrors),
    /// The JSON has the wrong shape (422).
    #[error("{0}")]
    Unprocessable(String),
    /// Too many attempts; retry after this many seconds (429).
    #[error("too many attempts; retry in {0} s")]
    TooManyRequests(u64),
    /// The read models have not reached the `Consistency-Token` in time (503).
    #[error("{0}")]
    NotCaughtUp(String),
    /// A dependency is down (503).
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// A bug or an unexpected failure (500). The detail stays in the log.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status of this error.
    pub fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Route(status, _) => *status,
            ApiError::Conflict { .. } | ApiError::IdempotencyRace => StatusCode::CONFLICT,
            ApiError::PreconditionFailed { .. } => StatusCode::PRECONDITION_FAILED,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::RangeNotSatisfiable(_) => StatusCode::RANGE_NOT_SATISFIABLE,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Invalid(_) | ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unavailable(_) | ApiError::NotCaughtUp(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn slug(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad-request",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::Route(StatusCode::METHOD_NOT_ALLOWED, _) => "method-not-allowed",
            ApiError::NotFound(_) | ApiError::Route(..) => "not-found",
            ApiError::Conflict { .. } | ApiError::IdempotencyRace => "conflict",
            ApiError::PreconditionFailed { .. } => "precondition-failed",
            ApiError::PayloadTooLarge(_) => "payload-too-large",
            ApiError::UnsupportedMediaType(_) => "unsupported-media-type",
            ApiError::RangeNotSatisfiable(_) => "range-not-satisfiable",
            ApiError::TooManyRequests(_) => "too-many-requests",
            ApiError::Invalid(_) => "validation",
            ApiError::Unprocessable(_) => "unprocessable",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::NotCaughtUp(_) => "not-caught-up",
            ApiError::Internal(_) => "internal",
        }
    }

    /// The problem document (RFC 9457) for this error.
    pub fn problem(&self) -> Value {
        let status = self.status_code();
        let detail = match self {
            ApiError::Internal(_) => {
                "something went wrong on our side; it has been logged".to_owned()
            }
            ApiError::Unavailable(_) => "a dependency is unavailable; retry shortly".to_owned(),
            ApiError::Invalid(_) => "one or more fields are invalid".to_owned(),
            other => other.to_string(),
        };
        let mut problem = json!({
            "type": format!("/problems/{}", self.slug()),
            "title": status.canonical_reason().unwrap_or("Error"),
            "status": status.as_u16(),
            "detail": detail,
        });
        match self {
            ApiError::Invalid(errors) => problem["errors"] = json!(errors),
            ApiError::Conflict {
                existing: Some(existing),
                ..
            } => problem["existing"] = existing.clone(),
            ApiError::PreconditionFailed { current } => problem["current_version"] = json!(current),
            _ => {}
        }
        problem
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            ApiError::Internal(detail) => tracing::error!(error.detail = %detail, "request failed"),
            ApiError::Unavailable(detail) => {
                tracing::warn!(error.detail = %detail, "dependency unavailable")
            }
            // A client's mistake or a race it can retry: worth a line, not an operator's alarm
            // (the event store and the handlers log their errors at DEBUG only, so this is the
            // one line).
            client => tracing::info!(
                status = client.status_code().as_u16(),
                problem = client.slug(),
                detail = %client,
                "request refused"
            ),
        }
        let status = self.status_code();
        let mut response = (status, axum::Json(self.problem())).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if status == StatusCode::SERVICE_UNAVAILABLE {
            let seconds = if matches!(self, ApiError::NotCaughtUp(_)) {
                "1"
            } else {
                "5"
            };
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static(seconds));
        }
        if let ApiError::TooManyRequests(seconds) = self {
            if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                headers.insert(header::RETRY_AFTER, value);
            }
        }
        if let ApiError::RangeNotSatisfiable(len) = self {
            if let Ok(value) = HeaderValue::from_str(&format!("bytes */{len}")) {
                headers.insert(header::CONTENT_RANGE, value);
            }
        }
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// The problem type of an answer the stack gave before or around a handler (an extractor's
/// rejection, the body limit, a timeout, the throttle, the load shed).
fn slug_of(status: StatusCode) -> String {
    match status {
        StatusCode::BAD_REQUEST => "bad-request".into(),
        StatusCode::NOT_FOUND => "not-found".into(),
        StatusCode::METHOD_NOT_ALLOWED => "method-not-allowed".into(),
        StatusCode::REQUEST_TIMEOUT => "request-timeout".into(),
        StatusCode::PAYLOAD_TOO_LARGE => "payload-too-large".into(),
        StatusCode::URI_TOO_LONG => "uri-too-long".into(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported-media-type".into(),
        StatusCode::UNPROCESSABLE_ENTITY => "unprocessable".into(),
        StatusCode::TOO_MANY_REQUESTS => "too-many-requests".into(),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "headers-too-large".into(),
        StatusCode::SERVICE_UNAVAILABLE => "unavailable".into(),
        StatusCode::GATEWAY_TIMEOUT => "timeout".into(),
        other => format!("http-{}", other.as_u16()),
    }
}

/// A problem+json answer with `status` and `detail`, for what the stack itself answers.
pub fn problem_response(status: StatusCode, detail: &str) -> Response {
    let body = json!({
        "type": format!("/problems/{}", slug_of(status)),
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "detail": detail,
    });
    let mut response = (status, axum::Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    response
}

/// Turns an error answer that is not problem+json (axum's extractor rejections are plain
/// text: `Invalid URL: Invalid UTF-8 in `id``, a failed header or query parse) into one, with
/// the same status and headers (`Allow`, `Retry-After`) and the text as its detail.
pub async fn problem_for_bare_errors(response: Response) -> Response {
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == PROBLEM_JSON.as_bytes());
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return response;
    }
    let (parts, body) = response.into_parts();
    // Rejection texts are short; anything longer is not worth showing.
    let text = match axum::body::to_bytes(body, 4096).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).trim().to_owned(),
        Err(_) => String::new(),
    };
    let detail = if text.is_empty() {
        status.canonical_reason().unwrap_or("Error").to_owned()
    } else {
        text
    };
    let mut problem = problem_response(status, &detail);
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            problem.headers_mut().insert(name.clone(), value.clone());
        }
    }
    problem
}

impl From<DomainError> for ApiError {
    fn from(error: DomainError) -> Self {
        match error {
            DomainError::Invalid(errors) => ApiError::Invalid(errors),
            DomainError::Forbidden(why) => ApiError::Forbidden(why),
            DomainError::NotFound => ApiError::NotFound("no such resource".into()),
            DomainError::AlreadyExists => ApiError::Conflict {
                detail: "the resource already exists".into(),
                existing: None,
            },
        }
    }
}

impl From<ValidationErrors> for ApiError {
    fn from(errors: ValidationErrors) -> Self {
        ApiError::Invalid(errors)
    }
}
