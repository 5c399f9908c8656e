//! The HTTP server every service runs: bounded in time and in load.
//!
//! - the request head must arrive within `MOVIEDB_HEADER_TIMEOUT_MS` (default 10 000), which
//!   also closes a keep-alive connection idle for that long (hyper's header read timer runs
//!   while it waits for the next request);
//! - the body within `MOVIEDB_BODY_TIMEOUT_MS` of the head (default 10 000), else 408;
//! - the whole answer within `MOVIEDB_REQUEST_TIMEOUT_MS` (default 30 000), else 503 with
//!   `Retry-After`;
//! - at most `MOVIEDB_MAX_CONNECTIONS` open connections (default 10 000): the next one gets a
//!   503 with `Retry-After` and is closed;
//! - at most `MOVIEDB_MAX_REQUESTS` requests in progress (default 1 024): the next one gets a
//!   503 with `Retry-After`.
//!
//! At start the open-file soft limit is raised to the hard limit, and both are logged.

use crate::error::problem_response;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// The server's bounds, from the environment (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// Time to receive a request head, and the idle keep-alive time.
    pub header_timeout: Duration,
    /// Time to receive the body once the head is in.
    pub body_timeout: Duration,
    /// Time to answer a request.
    pub request_timeout: Duration,
    /// Open connections.
    pub max_connections: usize,
    /// Requests in progress.
    pub max_requests: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_connections: 10_000,
            max_requests: 1024,
        }
    }
}

impl ServerLimits {
    /// The limits `vars` name (`MOVIEDB_HEADER_TIMEOUT_MS`, `MOVIEDB_BODY_TIMEOUT_MS`,
    /// `MOVIEDB_REQUEST_TIMEOUT_MS`, `MOVIEDB_MAX_CONNECTIONS`, `MOVIEDB_MAX_REQUESTS`).
    pub fn from_vars(vars: &crate::config::Vars) -> Self {
        let count = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        Self {
            header_timeout: Duration::from_millis(vars.header_timeout_ms),
            body_timeout: Duration::from_millis(vars.body_timeout_ms),
            request_timeout: Duration::from_millis(vars.request_timeout_ms),
            max_connections: count(vars.max_connections),
            max_requests: count(vars.max_requests),
        }
    }
}

/// Raises the open-file soft limit to the hard limit and logs both.
pub fn raise_open_file_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(soft) => {
            let hard = rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(soft, |(_, h)| h);
            tracing::info!(soft, hard, "open-file limit");
        }
        Err(e) => tracing::warn!(error = %e, "cannot raise the open-file limit"),
    }
}

/// Serves `router` on `listener` within `limits` until `shutdown` completes, then lets the
/// requests in flight finish (for at most the request timeout). Each request carries the
/// peer's address as [`ConnectInfo<SocketAddr>`].
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    raise_open_file_limit();
    let guard = Guard {
        requests: Arc::new(Semaphore::new(limits.max_requests)),
        limits,
    };
    let router = router.layer(axum::middleware::from_fn_with_state(guard, bounded));
    // Routes are declared without a trailing slash; `/api/movies_curd/` (the original app's
    // form) and `/v1/movies/` reach the same handlers, for every method.
    let router = tower_http::normalize_path::NormalizePath::trim_trailing_slash(router);
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before accept: wait a
                    // moment rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            tokio::spawn(refuse(stream));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<_>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            router.clone().oneshot(request.map(Body::new))
        });
        let connection = http.serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, %peer, "connection ended");
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.request_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still in flight at shutdown were cut off");
    }
    Ok(())
}

/// Answers a connection over the limit with a 503 and closes it.
async fn refuse(mut stream: tokio::net::TcpStream) {
    let body = serde_json::json!({
        "type": "/problems/unavailable",
        "title": "Service Unavailable",
        "status": 503,
        "detail": "too many open connections; retry shortly",
    })
    .to_string();
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/problem+json\r\n\
         retry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let write = async {
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), write).await;
}

#[derive(Clone)]
struct Guard {
    requests: Arc<Semaphore>,
    limits: ServerLimits,
}

/// Sheds a request over the in-progress bound, gives the body its deadline and the whole
/// request its own.
async fn bounded(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    let Ok(_permit) = guard.requests.clone().try_acquire_owned() else {
        return retry_later(problem_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many requests in progress; retry shortly",
        ));
    };
    let late = Arc::new(AtomicBool::new(false));
    let request = request.map(|body| {
        Body::new(DeadlineBody {
            inner: body,
            sleep: Box::pin(tokio::time::sleep(guard.limits.body_timeout)),
            late: late.clone(),
        })
    });
    match tokio::time::timeout(guard.limits.request_timeout, next.run(request)).await {
        _ if late.load(Ordering::Acquire) => {
            let mut response = problem_response(
                StatusCode::REQUEST_TIMEOUT,
                "the request body did not arrive in time",
            );
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            response
        }
        Ok(response) => response,
        Err(_) => retry_later(problem_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "the request took too long to answer; retry shortly",
        )),
    }
}

fn retry_later(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// A request body that fails once its deadline passes, and says so in `late`.
struct DeadlineBody {
    inner: Body,
    sleep: Pin<Box<tokio::time::Sleep>>,
    late: Arc<AtomicBool>,
}

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        if self.sleep.as_mut().poll(cx).is_ready() {
            self.late.store(true, Ordering::Release);
            return Poll::Ready(Some(Err(axum::Error::new(io::Error::new(
                io::ErrorKind::TimedOut,
                "the request body did not arrive in time",
            )))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
