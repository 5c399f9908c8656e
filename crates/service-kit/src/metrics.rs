//! Prometheus metrics of one service: a request counter and a latency histogram per route,
//! recorded by a middleware on every route, and the values a service reads when it is scraped
//! (how stale the projection is, the outbox backlog), set just before rendering.
//!
//! Each service instance has its own registry (the `prometheus` crate's), not a process-global
//! one: the tests run several services in one process, and each `/metrics` must speak only
//! for its own.

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry,
    TextEncoder,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Upper bounds of the latency buckets, in seconds: from half a millisecond (a cached detail
/// read) to ten seconds (the longest a request may take).
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// One service's metrics. Cheap to clone.
#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

struct Inner {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    gauges: Mutex<HashMap<&'static str, Gauge>>,
    counters: Mutex<HashMap<&'static str, IntCounter>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// An empty registry with the request metrics.
    pub fn new() -> Self {
        let registry = Registry::new();
        let labels = ["method", "route", "status"];
        // The names and labels are constants, so these cannot fail.
        let requests = IntCounterVec::new(
            Opts::new(
                "moviedb_http_requests_total",
                "HTTP requests answered, by method, route and status.",
            ),
            &labels,
        )
        .expect("a valid counter");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "moviedb_http_request_duration_seconds",
                "Time from a request's arrival to its answer's head, by method, route and status.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &labels,
        )
        .expect("a valid histogram");
        registry
            .register(Box::new(requests.clone()))
            .expect("registered once");
        registry
            .register(Box::new(latency.clone()))
            .expect("registered once");
        Self(Arc::new(Inner {
            registry,
            requests,
            latency,
            gauges: Mutex::default(),
            counters: Mutex::default(),
        }))
    }

    /// Counts one answered request and how long it took.
    pub fn observe(&self, method: &Method, route: &str, status: u16, seconds: f64) {
        let status = status_label(status);
        let labels = [method_label(method), route, status];
        self.0.requests.with_label_values(&labels).inc();
        self.0.latency.with_label_values(&labels).observe(seconds);
    }

    /// Sets the gauge `name` (registered on first use) to `value`.
    pub fn set_gauge(&self, name: &'static str, help: &'static str, value: f64) {
        let mut gauges = lock(&self.0.gauges);
        let gauge = gauges
            .entry(name)
            .or_insert_with(|| self.register(Gauge::new(name, help)));
        gauge.set(value);
    }

    /// Brings the counter `name` (registered on first use) up to `total`, a count kept
    /// elsewhere (the projector's); a total below the counter's (a restart elsewhere) is kept
    /// as it is, since counters only go up.
    pub fn set_counter(&self, name: &'static str, help: &'static str, total: u64) {
        let mut counters = lock(&self.0.counters);
        let counter = counters
            .entry(name)
            .or_insert_with(|| self.register(IntCounter::new(name, help)));
        counter.inc_by(total.saturating_sub(counter.get()));
    }

    /// A metric made from a constant name and help, registered; one that cannot be (a name
    /// taken by another kind) is logged and still returned, so it works unreported.
    fn register<M>(&self, made: prometheus::Result<M>) -> M
    where
        M: prometheus::core::Collector + Clone + 'static,
    {
        let metric = made.expect("a valid metric name");
        if let Err(e) = self.0.registry.register(Box::new(metric.clone())) {
            tracing::warn!(error = %e, "cannot register a metric");
        }
        metric
    }

    /// Everything, in Prometheus' text format.
    pub fn render(&self) -> String {
        let mut text = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.0.registry.gather(), &mut text) {
            tracing::warn!(error = %e, "cannot encode the metrics");
        }
        String::from_utf8(text).unwrap_or_default()
    }

    /// The answer to a scrape: [`Metrics::render`] with Prometheus' content type.
    pub fn response(&self) -> Response {
        (
            [(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)],
            self.render(),
        )
            .into_response()
    }
}

/// The middleware that counts every request by the route it matched (`unmatched` for the
/// 404s of no route, so a scan of random paths adds no series).
pub async fn track(State(metrics): State<Metrics>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    // An `Arc<str>` inside: no copy of the path.
    let route = request.extensions().get::<MatchedPath>().cloned();
    let response = next.run(request).await;
    metrics.observe(
        &method,
        route.as_ref().map_or("unmatched", MatchedPath::as_str),
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// The method as a label: the standard ones by name, anything else as `other`, so a client
/// cannot add series by inventing methods.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

fn status_label(status: u16) -> &'static str {
    // Every status axum can answer is in 100..=999; the table saves a String per request.
    const LABELS: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
    match status {
        200 => "200",
        201 => "201",
        204 => "204",
        207 => "207",
        304 => "304",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        409 => "409",
        412 => "412",
        413 => "413",
        415 => "415",
        422 => "422",
        429 => "429",
        500 => "500",
        503 => "503",
        504 => "504",
        other => LABELS[usize::from((other / 100).clamp(1, 5)) - 1],
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The maps hold no invariant a panic could break.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_per_route_and_invented_methods_share_one_label() {
        let metrics = Metrics::new();
        metrics.observe(&Method::GET, "/v1/movies/{id}", 200, 0.002);
        metrics.observe(&Method::GET, "/v1/movies/{id}", 200, 0.004);
        let odd = Method::from_bytes(b"BREW").expect("a method");
        metrics.observe(&odd, "unmatched", 404, 0.001);
        let text = metrics.render();
        assert!(
            text.contains(
                "moviedb_http_requests_total{method=\"GET\",route=\"/v1/movies/{id}\",status=\"200\"} 2"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "moviedb_http_request_duration_seconds_bucket{method=\"GET\",route=\"/v1/movies/{id}\",status=\"200\",le=\"0.005\"} 2"
            ),
            "{text}"
        );
        assert!(text.contains("method=\"other\""), "{text}");
        assert!(!text.contains("BREW"), "{text}");
    }

    #[test]
    fn gauges_and_counters_take_values_kept_elsewhere() {
        let metrics = Metrics::new();
        metrics.set_gauge("moviedb_test_age_seconds", "An age.", 1.5);
        metrics.set_gauge("moviedb_test_age_seconds", "An age.", 2.5);
        metrics.set_counter("moviedb_test_total", "A count.", 7);
        metrics.set_counter("moviedb_test_total", "A count.", 3);
        let text = metrics.render();
        assert!(text.contains("moviedb_test_age_seconds 2.5"), "{text}");
        assert!(text.contains("moviedb_test_total 7"), "{text}");
        assert!(text.contains("# TYPE moviedb_test_total counter"), "{text}");
    }
}
