//! What the services of moviedb share: configuration, the problem+json error type, access
//! tokens, the middleware every router gets, logging and shutdown.

pub mod auth;
pub mod config;
pub mod error;
pub mod metrics;
pub mod serve;
pub mod telemetry;

pub use config::redact_url;
pub use config::{AdminSeed, Config, KafkaConfig, SearchConfig, ThrottleConfig};
pub use error::{ApiError, PROBLEM_JSON};
pub use metrics::Metrics;
pub use secrecy;
pub use serve::{serve, ServerLimits};

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

/// Wraps the routes of one or more services with what every response needs: problem+json for
/// unknown routes and methods, the body limit, a panic guard, request ids, and the request
/// metrics (counted on `metrics`, by the route each request matched).
///
/// Call it once, on the merged router: sub-routers must not set fallbacks of their own.
pub fn with_middleware(routes: Router, body_limit: usize, metrics: &Metrics) -> Router {
    routes
        .fallback(|| async { ApiError::Route(StatusCode::NOT_FOUND, "no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::Route(
                StatusCode::METHOD_NOT_ALLOWED,
                "this route does not accept that method",
            )
        })
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::map_response(
            error::problem_for_bare_errors,
        ))
        .layer(CatchPanicLayer::custom(
            |_: Box<dyn std::any::Any + Send>| {
                ApiError::Internal("a handler panicked".into()).into_response()
            },
        ))
        .layer(PropagateRequestIdLayer::x_request_id())
        // Bodies are never logged: they may hold passwords.
        .layer(TraceLayer::new_for_http())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(axum::middleware::from_fn_with_state(
            metrics.clone(),
            metrics::track,
        ))
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
