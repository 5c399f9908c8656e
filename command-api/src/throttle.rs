//! Login and registration throttling: per account (e-mail) and per client address, each a
//! token bucket (`governor`) that refills over the configured window. An attack on one account
//! does not lock out another; once the window has passed, the right password works again.

use crate::error::ApiError;
use axum::extract::ConnectInfo;
use axum::http::HeaderMap;
use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use moviedb_service_kit::ThrottleConfig;
use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

type Limiter<K> = RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock>;

/// The buckets of one service.
#[derive(Clone)]
pub struct Throttle(Arc<Buckets>);

struct Buckets {
    login_accounts: Limiter<String>,
    login_clients: Limiter<IpAddr>,
    registrations: Limiter<IpAddr>,
    trusted_proxies: Vec<IpAddr>,
    checks: AtomicU64,
}

/// `count` attempts per `config.window`, all of them at once if need be.
fn limiter<K: Hash + Eq + Clone>(count: u32, config: &ThrottleConfig) -> Limiter<K> {
    let count = NonZeroU32::new(count).unwrap_or(NonZeroU32::MIN);
    let period = (config.window / count.get()).max(std::time::Duration::from_millis(1));
    let quota = Quota::with_period(period)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(count);
    RateLimiter::keyed(quota)
}

impl Throttle {
    /// Buckets sized by `config`.
    pub fn new(config: &ThrottleConfig) -> Self {
        Self(Arc::new(Buckets {
            login_accounts: limiter(config.login_per_account, config),
            login_clients: limiter(config.login_per_client, config),
            registrations: limiter(config.register_per_client, config),
            trusted_proxies: config.trusted_proxies.clone(),
            checks: AtomicU64::new(0),
        }))
    }

    /// The client's address: the peer, or, when the peer is a trusted proxy, the nearest
    /// address in `X-Forwarded-For` that is not one of the trusted proxies.
    pub fn client(&self, peer: Option<&ConnectInfo<SocketAddr>>, headers: &HeaderMap) -> IpAddr {
        let peer = peer.map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip());
        if !self.0.trusted_proxies.contains(&peer) {
            return peer;
        }
        headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .rev()
            .filter_map(|a| a.trim().parse::<IpAddr>().ok())
            .find(|a| !self.0.trusted_proxies.contains(a))
            .unwrap_or(peer)
    }

    /// One login attempt for `email` from `client`.
    pub fn login(&self, email: &str, client: IpAddr) -> Result<(), ApiError> {
        self.housekeeping();
        check(&self.0.login_clients, &client)?;
        check(&self.0.login_accounts, &email.trim().to_lowercase())
    }

    /// One registration from `client`.
    pub fn register(&self, client: IpAddr) -> Result<(), ApiError> {
        self.housekeeping();
        check(&self.0.registrations, &client)
    }

    /// Forgets full buckets now and then, so the maps stay the size of recent traffic.
    fn housekeeping(&self) {
        if self.0.checks.fetch_add(1, Ordering::Relaxed) % 4096 == 4095 {
            self.0.login_accounts.retain_recent();
            self.0.login_clients.retain_recent();
            self.0.registrations.retain_recent();
        }
    }
}

fn check<K: Hash + Eq + Clone>(limiter: &Limiter<K>, key: &K) -> Result<(), ApiError> {
    limiter.check_key(key).map_err(|not_until| {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        tracing::warn!(wait_ms = wait.as_millis() as u64, "attempts throttled");
        ApiError::TooManyRequests(wait.as_secs() + 1)
    })
}
