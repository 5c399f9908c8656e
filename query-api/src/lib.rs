//! The read side of moviedb: an axum HTTP API over the read models.
//!
//! Lists, details, a movie's history, the user list and the roles of callers come from the
//! read models; search from the search index. It never reads the event store. A query carrying
//! a `Consistency-Token` waits until the projections reached it ([`consistency`]).

pub mod consistency;
pub mod openapi;
pub mod params;
pub mod routes;
mod run;
pub mod state;

pub use run::run;

/// Bytes of images the query side keeps in memory (the sizes served most; a `w342` is about
/// 15 KB, so some four thousand).
pub const IMAGE_CACHE_BYTES: usize = 64 * 1024 * 1024;
pub use state::{LocalProjector, QueryParts, QueryState};

use anyhow::Context;
use std::future::Future;
use std::net::SocketAddr;
use tokio::net::TcpListener;

/// A bound, not yet running query API.
pub struct QueryApplication {
    listener: TcpListener,
    router: axum::Router,
    limits: moviedb_service_kit::ServerLimits,
}

impl QueryApplication {
    /// Binds `listen` and serves `state` within `body_limit` and `limits`.
    pub async fn build(
        listen: SocketAddr,
        state: QueryState,
        body_limit: usize,
        limits: moviedb_service_kit::ServerLimits,
    ) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("binding {listen}"))?;
        Ok(Self {
            listener,
            router: routes::api_router(state, body_limit),
            limits,
        })
    }

    /// The port actually bound.
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map_or(0, |a| a.port())
    }

    /// Serves until `shutdown` completes.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        tracing::info!(address = %self.listener.local_addr()?, "query API listening");
        moviedb_service_kit::serve(self.listener, self.router, self.limits, shutdown).await
    }
}
