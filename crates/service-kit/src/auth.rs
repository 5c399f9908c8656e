//! JWT access tokens (HS256 only) and where a request carries one.
//!
//! The token says who the caller is; what they may do is read on every request, so a demoted
//! admin loses admin rights at once, not when the token expires: the command API reads the
//! role from the user's stream (guarded at append), the query API from the users projection
//! (see ARCHITECTURE.md for the timing).

use crate::error::ApiError;
use axum::http::{header, HeaderMap};
use chrono::Utc;
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use moviedb_domain::Role;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

const ISSUER: &str = "moviedb";

/// What a token asserts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: Uuid,
    /// The role when the token was issued (informational; authority comes from the stream).
    pub role: Role,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Expires at, seconds since the epoch.
    pub exp: i64,
    /// Always `moviedb`.
    pub iss: String,
}

/// Issues and checks tokens with one HMAC secret. Cheap to clone: handler state is cloned for
/// every request, and each key holds its own copy of the secret, so cloning the keys cost two
/// allocations per request, reads included.
#[derive(Clone)]
pub struct Tokens {
    keys: Arc<(EncodingKey, DecodingKey)>,
    ttl: Duration,
}

impl Tokens {
    /// Tokens signed with `secret`, valid for `ttl`.
    pub fn new(secret: &[u8], ttl: Duration) -> Self {
        Self {
            keys: Arc::new((
                EncodingKey::from_secret(secret),
                DecodingKey::from_secret(secret),
            )),
            ttl,
        }
    }

    /// How long a token lives.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A signed token for `user_id`.
    pub fn issue(&self, user_id: Uuid, role: Role) -> Result<String, ApiError> {
        let now = Utc::now().timestamp();
        let ttl = i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX);
        let claims = Claims {
            sub: user_id,
            role,
            iat: now,
            exp: now.saturating_add(ttl),
            iss: ISSUER.into(),
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.keys.0)
            .map_err(|e| ApiError::Internal(e.to_string()))
    }

    /// The claims of a valid token: right signature, HS256 (so never `alg: none`), not expired.
    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "sub", "iss"]);
        decode::<Claims>(token, &self.keys.1, &validation)
            .map(|data| data.claims)
            .map_err(|_| ApiError::Unauthorized("the token is invalid or expired"))
    }
}

/// What a 401 for a missing token says: both ways of sending one, the original app's first.
pub const LOG_IN_FIRST: &str =
    "log in first: send the token as `x-access-token: <token>` or `Authorization: Bearer <token>`";

/// The bearer token of a request: `Authorization: Bearer ...` or the original app's
/// `x-access-token`.
pub fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let value = value
            .to_str()
            .map_err(|_| ApiError::Unauthorized("malformed Authorization header"))?;
        let (scheme, token) = value.split_once(' ').ok_or(ApiError::Unauthorized(
            "expected `Authorization: Bearer <token>`",
        ))?;
        if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
            return Err(ApiError::Unauthorized(
                "expected `Authorization: Bearer <token>`",
            ));
        }
        return Ok(Some(token.trim()));
    }
    match headers.get("x-access-token") {
        Some(value) => value
            .to_str()
            .map(|t| Some(t.trim()))
            .map_err(|_| ApiError::Unauthorized("malformed x-access-token header")),
        None => Ok(None),
    }
}
