//! Posters for clients: `GET /v1/configuration` (TMDB's shape: where images are, in which
//! sizes) and the images themselves at `/images/{size}/{hash}.jpg`. A URL names one image
//! forever (the hash is of its content), so every cache and CDN may keep it for good: a year,
//! `immutable`, a strong `ETag` (304 on `If-None-Match`), `HEAD`, and single byte ranges.

use crate::state::QueryState;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use moviedb_domain::movie::is_poster_hash;
use moviedb_images::{PosterSize, StoreError, STORED_CONTENT_TYPE};
use moviedb_service_kit::ApiError;
use moviedb_wire::schema::{Configuration, ImagesConfiguration};
use std::ops::Range;

/// What a cache may do with an image: keep it a year and never ask again.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

pub(super) fn router() -> Router<QueryState> {
    Router::new()
        .route("/v1/configuration", get(configuration))
        .route("/images/{size}/{file}", get(image))
}

/// Where images are and in which sizes: a client keeps this and builds each image's URL from
/// it and a movie's `poster_path`.
#[utoipa::path(get, path = "/v1/configuration", tag = "images", operation_id = "configuration",
    summary = "Where images are, and their sizes",
    responses((status = 200, description = "The image configuration", body = Configuration)),
    security(()))]
async fn configuration(State(state): State<QueryState>) -> Response {
    let base_url = state
        .images_base_url
        .clone()
        .unwrap_or_else(|| "/images/".to_owned());
    let secure_base_url = match base_url.strip_prefix("http://") {
        Some(rest) => format!("https://{rest}"),
        None => base_url.clone(),
    };
    let body = Configuration {
        images: ImagesConfiguration {
            base_url,
            secure_base_url,
            poster_sizes: PosterSize::ALL
                .iter()
                .map(|s| s.name().to_owned())
                .collect(),
        },
    };
    (
        [(header::CACHE_CONTROL, "public, max-age=3600")],
        Json(body),
    )
        .into_response()
}

fn store_error(e: StoreError) -> ApiError {
    ApiError::Unavailable(e.to_string())
}

/// One size of a poster. The same URL always gives the same bytes.
#[utoipa::path(get, path = "/images/{size}/{file}", tag = "images", operation_id = "image",
    summary = "One size of a poster",
    params(("size" = String, Path, description = "A size from `GET /v1/configuration`", example = "w342"),
        ("file" = String, Path, description = "A movie's `poster_path` without its slash", example = "3dae4b2babd8974f6c4e39ea0edccd52.jpg"),
        ("If-None-Match" = Option<String>, Header, description = "The ETag you hold: 304 if it is this image's"),
        ("Range" = Option<String>, Header, description = "One byte range (`bytes=0-1023`): 206 with that part")),
    responses(
        (status = 200, description = "The image", content_type = "image/jpeg", body = moviedb_wire::schema::Binary, headers(
            ("etag" = String, description = "Strong; the same for this URL forever"),
            ("cache-control" = String, description = "public, max-age=31536000, immutable"))),
        (status = 206, description = "The range asked for", content_type = "image/jpeg", body = moviedb_wire::schema::Binary, headers(
            ("content-range" = String, description = "bytes first-last/length"))),
        (status = 304, description = "Not modified: the ETag sent is this image's"),
        (status = 404, description = "No such size or image", body = moviedb_wire::schema::Problem, content_type = "application/problem+json"),
        (status = 416, description = "The range is not within the image", body = moviedb_wire::schema::Problem, content_type = "application/problem+json"),
    ),
    security(()))]
#[tracing::instrument(skip_all, err(level = "debug"))]
async fn image(
    State(state): State<QueryState>,
    Path((size, file)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::NotFound("no such image".into());
    let size = PosterSize::parse(&size).ok_or_else(not_found)?;
    let (hash, ext) = file.split_once('.').ok_or_else(not_found)?;
    if !is_poster_hash(hash) || ext != "jpg" {
        return Err(not_found());
    }
    let etag = format!("\"{hash}-{}\"", size.name());
    let mut response_headers = HeaderMap::new();
    response_headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
    response_headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(value) = HeaderValue::from_str(&etag) {
        response_headers.insert(header::ETAG, value);
    }
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    if method == Method::HEAD || range.is_some() || matches_etag(&headers, &etag) {
        let len = state
            .images
            .len(size, hash, ext)
            .await
            .map_err(store_error)?
            .ok_or_else(not_found)?;
        if matches_etag(&headers, &etag) {
            return Ok((StatusCode::NOT_MODIFIED, response_headers).into_response());
        }
        response_headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(STORED_CONTENT_TYPE),
        );
        if method == Method::HEAD {
            response_headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
            return Ok((StatusCode::OK, response_headers).into_response());
        }
        if let Some(wanted) = range.and_then(|r| parse_range(r, len)) {
            let Ok(wanted) = wanted else {
                return Err(unsatisfiable(len));
            };
            let blob = state
                .images
                .get(size, hash, ext, Some(wanted))
                .await
                .map_err(store_error)?
                .ok_or_else(not_found)?;
            let content_range = format!(
                "bytes {}-{}/{}",
                blob.range.start,
                blob.range.end.saturating_sub(1),
                blob.size
            );
            if let Ok(value) = HeaderValue::from_str(&content_range) {
                response_headers.insert(header::CONTENT_RANGE, value);
            }
            return Ok((
                StatusCode::PARTIAL_CONTENT,
                response_headers,
                Body::from(blob.bytes),
            )
                .into_response());
        }
    }
    let blob = state
        .images
        .get(size, hash, ext, None)
        .await
        .map_err(store_error)?
        .ok_or_else(not_found)?;
    response_headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(STORED_CONTENT_TYPE),
    );
    Ok((StatusCode::OK, response_headers, Body::from(blob.bytes)).into_response())
}

/// Whether `If-None-Match` lists `etag` (or is `*`).
fn matches_etag(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == etag || tag == "*")
}

fn unsatisfiable(len: u64) -> ApiError {
    ApiError::RangeNotSatisfiable(len)
}

/// The byte range of a `Range` header over `len` bytes: `None` to send the whole image (not
/// bytes, several ranges, or malformed: RFC 9110 lets a server ignore those), `Some(Err)`
/// when the one range asked lies outside the image (416).
fn parse_range(header: &str, len: u64) -> Option<Result<Range<u64>, ()>> {
    let spec = header.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    let (first, last) = (first.trim(), last.trim());
    let range = match (first.is_empty(), last.is_empty()) {
        // The last n bytes.
        (true, false) => {
            let n: u64 = last.parse().ok()?;
            if n == 0 {
                return Some(Err(()));
            }
            len.saturating_sub(n)..len
        }
        (false, true) => first.parse().ok()?..len,
        (false, false) => {
            let (first, last): (u64, u64) = (first.parse().ok()?, last.parse().ok()?);
            if last < first {
                return None;
            }
            first..last.saturating_add(1).min(len)
        }
        (true, true) => return None,
    };
    if range.start >= len || range.is_empty() {
        return Some(Err(()));
    }
    Some(Ok(range))
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges_are_read_as_rfc_9110_says() {
        assert_eq!(parse_range("bytes=0-9", 100), Some(Ok(0..10)));
        assert_eq!(parse_range("bytes=90-", 100), Some(Ok(90..100)));
        assert_eq!(parse_range("bytes=-10", 100), Some(Ok(90..100)));
        assert_eq!(parse_range("bytes=-500", 100), Some(Ok(0..100)));
        assert_eq!(parse_range("bytes=50-500", 100), Some(Ok(50..100)));
        assert_eq!(parse_range("bytes=100-", 100), Some(Err(())));
        assert_eq!(parse_range("bytes=-0", 100), Some(Err(())));
        assert_eq!(parse_range("bytes=0-1,5-6", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
        assert_eq!(parse_range("bytes=9-3", 100), None);
        assert_eq!(parse_range("bytes=x-3", 100), None);
    }
}
