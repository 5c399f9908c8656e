//! What the services of moviedb share: configuration, the problem+json error type, access
//! tokens, the middleware every router gets, logging and shutdown, and the allocator.

pub mod auth;
pub mod config;
pub mod error;
pub mod gauges;
pub mod metrics;
mod request_id;
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
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

/// jemalloc instead of the system allocator, in every process that links the kit (`moviedb`,
/// `command-api`, `query-api`, `projector`, and the tests). Under glibc's malloc the threads a
/// server runs (Tokio's workers and blocking pool, SQLite's, tantivy's) each grow an arena of
/// their own, and the resident size of the embedded service after mixed load was several
/// times what it holds. With 10 000 movies, after 20 s of mixed load (`examples/bench_http`):
/// glibc 336 MB, mimalloc 176 MB, jemalloc 82 MB (glibc with `MALLOC_ARENA_MAX=2`: 88 MB, and
/// searches a third slower). Its options are built in by `.cargo/config.toml`
/// (`JEMALLOC_SYS_WITH_MALLOC_CONF`): two arenas, and freed pages returned after a second.
///
/// Here rather than in each binary, cargo also builds jemalloc's C early: it starts a unit
/// sooner the more units wait for it, and with jemalloc under the root package alone its
/// 60-80 s C build started last and ran beside the service crates, one core each.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Wraps the routes of one or more services with what every response needs: problem+json for
/// unknown routes and methods, the body limit, a panic guard, request ids, and the request
/// metrics (counted on `metrics`, by the route each request matched).
///
/// Call it once, on the merged router: sub-routers must not set fallbacks of their own.
pub fn with_middleware(routes: Router, body_limit: usize, metrics: &Metrics) -> Router {
    // One layer made of the whole stack, not one `Router::layer` per middleware: axum boxes
    // each route again for every `layer` call, and a request then clones and allocates one
    // boxed service per level (eight in all, with `serve`'s own). The order is the same as
    // before: the first below is the outermost.
    let stack = ServiceBuilder::new()
        .layer(axum::middleware::from_fn_with_state(
            metrics.clone(),
            metrics::track,
        ))
        .layer(SetRequestIdLayer::x_request_id(request_id::RandomUuid))
        // Bodies are never logged: they may hold passwords.
        .layer(TraceLayer::new_for_http())
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(CatchPanicLayer::custom(
            |_: Box<dyn std::any::Any + Send>| {
                ApiError::Internal("a handler panicked".into()).into_response()
            },
        ))
        .layer(axum::middleware::map_response(
            error::problem_for_bare_errors,
        ))
        .layer(DefaultBodyLimit::max(body_limit));
    routes
        .fallback(|| async { ApiError::Route(StatusCode::NOT_FOUND, "no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::Route(
                StatusCode::METHOD_NOT_ALLOWED,
                "this route does not accept that method",
            )
        })
        .layer(stack)
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
///
/// The handlers are installed when this is called, not when the future is first polled:
/// callers build it before they log that they listen, so a supervisor that sends SIGTERM
/// as soon as it sees that line gets a clean shutdown rather than the default action
/// (death by the signal). Must be called inside a Tokio runtime.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let installed = {
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let wait = |signal: std::io::Result<tokio::signal::unix::Signal>,
                        name: &'static str| async move {
                match signal {
                    Ok(mut signal) => {
                        signal.recv().await;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, signal = name, "cannot listen for the signal");
                        std::future::pending::<()>().await;
                    }
                }
            };
            let (interrupt, terminate) = installed;
            tokio::select! {
                () = wait(interrupt, "SIGINT") => {},
                () = wait(terminate, "SIGTERM") => {},
            }
        }
        #[cfg(not(unix))]
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
        tracing::info!("shutting down");
    }
}
