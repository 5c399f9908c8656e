//! A closed-loop HTTP load generator: `connections` keep-alive HTTP/1.1 connections, each
//! sending its next request as soon as the previous answer is read, for a fixed time.
//! The same generator drives the baseline and moviedb, so their ratio is fair.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Builds the `n`-th request of a run.
pub type MakeRequest = Arc<dyn Fn(u64) -> Request<Full<Bytes>> + Send + Sync>;

/// What a run measured.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Answers with a 2xx status.
    pub ok: u64,
    /// Any other answer, or a failed connection.
    pub failed: u64,
    /// Answers with a 5xx status (counted in `failed` too).
    pub server_errors: u64,
    /// Latency of every answer, in microseconds.
    pub latencies_us: Vec<u64>,
    /// How long the run took.
    pub elapsed: Duration,
}

impl Outcome {
    /// 2xx answers per second.
    pub fn ok_per_sec(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    /// The `p`-th percentile latency in milliseconds.
    pub fn percentile_ms(&mut self, p: f64) -> f64 {
        percentile_ms(&mut self.latencies_us, p)
    }
}

/// The `p`-th percentile of `values` (microseconds), in milliseconds.
pub fn percentile_ms(values: &mut [u64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_unstable();
    let rank = ((p / 100.0) * (values.len() - 1) as f64).round() as usize;
    values[rank.min(values.len() - 1)] as f64 / 1000.0
}

/// Runs `make` over `connections` connections to `addr` for `duration`.
pub async fn run(
    addr: SocketAddr,
    connections: usize,
    duration: Duration,
    make: MakeRequest,
) -> Outcome {
    let counter = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (make, counter) = (make.clone(), counter.clone());
        tasks.push(tokio::spawn(async move {
            connection(addr, deadline, make, counter).await
        }));
    }
    let mut total = Outcome::default();
    for task in tasks {
        if let Ok(part) = task.await {
            total.ok += part.ok;
            total.failed += part.failed;
            total.server_errors += part.server_errors;
            total.latencies_us.extend(part.latencies_us);
        }
    }
    total.elapsed = start.elapsed();
    total
}

async fn connection(
    addr: SocketAddr,
    deadline: Instant,
    make: MakeRequest,
    counter: Arc<AtomicU64>,
) -> Outcome {
    let mut outcome = Outcome::default();
    'reconnect: while Instant::now() < deadline {
        let Ok(stream) = tokio::net::TcpStream::connect(addr).await else {
            outcome.failed += 1;
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let Ok((mut sender, conn)) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
        else {
            outcome.failed += 1;
            continue;
        };
        tokio::spawn(conn);
        while Instant::now() < deadline {
            let request = make(counter.fetch_add(1, Ordering::Relaxed));
            let sent = Instant::now();
            if sender.ready().await.is_err() {
                outcome.failed += 1;
                continue 'reconnect;
            }
            let Ok(response) = sender.send_request(request).await else {
                outcome.failed += 1;
                continue 'reconnect;
            };
            let status = response.status();
            if response.into_body().collect().await.is_err() {
                outcome.failed += 1;
                continue 'reconnect;
            }
            outcome.latencies_us.push(sent.elapsed().as_micros() as u64);
            if status.is_success() {
                outcome.ok += 1;
            } else {
                outcome.failed += 1;
                if status.is_server_error() {
                    outcome.server_errors += 1;
                }
            }
        }
    }
    outcome
}

/// Milliseconds at the 50th and 99th percentile and the worst.
pub fn summary(values: &mut [u64]) -> (f64, f64, f64) {
    (
        percentile_ms(values, 50.0),
        percentile_ms(values, 99.0),
        percentile_ms(values, 100.0),
    )
}
