//! The pages: `/`, a browse-and-search page over the API (one static file inside the binary,
//! no build step, no CDN), and the API's contract: `/openapi.json` (docs/openapi.json, made by `moviedb openapi` from the
//! annotated handlers of both sides and checked to be current by `tests/binary/openapi.rs`), and
//! `/docs`, Swagger UI rendering it, from files inside the binary.

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

/// The browse-and-search page.
const INDEX_HTML: &str = include_str!("../../static/index.html");

/// The document, as built into this binary.
pub const OPENAPI_JSON: &str = include_str!("../../../docs/openapi.json");

pub(super) fn router() -> Router {
    let docs = swagger_ui_dist::ApiDefinition {
        uri_prefix: "/docs",
        api_definition: swagger_ui_dist::OpenApiSource::Uri("/openapi.json"),
        title: Some("moviedb API"),
    };
    Router::new()
        .route("/", get(index))
        .route("/openapi.json", get(openapi))
        .merge(swagger_ui_dist::generate_routes(docs))
}

async fn index() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        INDEX_HTML,
    )
}

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI_JSON)
}
