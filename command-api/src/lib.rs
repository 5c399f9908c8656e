//! The write side of moviedb: an axum HTTP API that turns commands into events.
//!
//! [`Application::build`] wires the adapters a [`Config`] names, applies migrations, creates
//! the bootstrap admin and binds the listener (port 0 in tests; [`Application::port`] tells
//! which one was given).

pub mod admin;
pub mod auth;
pub mod commands;
pub mod idempotency;
pub mod openapi;
pub mod password;
pub mod request;
pub mod routes;
mod run;
pub mod state;
pub mod throttle;

pub use moviedb_service_kit::config::{self, AdminSeed, Config};
pub use moviedb_service_kit::{error, telemetry, ApiError};
pub use run::{run, spawn_relay};

use anyhow::Context;
use commands::CommandService;
use moviedb_event_store::EventStore;
use password::PasswordHasher;
use state::AppState;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

/// A built, bound, not yet running command API.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    extra: axum::Router,
    store: Arc<dyn EventStore>,
    commands: CommandService,
    limits: moviedb_service_kit::ServerLimits,
}

impl Application {
    /// Connects the store, migrates, bootstraps the admin and binds `config.listen`.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let store = moviedb_event_store::connect(&config.database_url)
            .await
            .with_context(|| {
                format!(
                    "opening {}",
                    moviedb_service_kit::redact_url(&config.database_url)
                )
            })?;
        // Every instance starting at once may re-key: each change is idempotent, and one
        // rolled back by contention with another is run again.
        moviedb_event_store::setup::retry_start(
            "re-keying",
            moviedb_event_store::StoreError::is_transient,
            || commands::rekey(store.as_ref()),
        )
        .await?;
        let commands = CommandService::new(store.clone(), PasswordHasher::new()?);
        if let Some(seed) = &config.admin {
            match admin::ensure_admin(&commands, seed)
                .await
                .context("creating the bootstrap admin")?
            {
                admin::AdminOutcome::Created(id) => {
                    tracing::info!(user.id = %id, "bootstrap admin created")
                }
                admin::AdminOutcome::AlreadyAdmin(id) => {
                    tracing::info!(user.id = %id, "bootstrap admin already exists")
                }
                admin::AdminOutcome::ExistsNotAdmin(id) => tracing::warn!(
                    user.id = %id,
                    "MOVIEDB_ADMIN_EMAIL belongs to a user who is not an admin; not promoting them"
                ),
            }
        }
        let state = AppState {
            commands: commands.clone(),
            tokens: config.tokens(),
            body_limit: config.body_limit,
            throttle: throttle::Throttle::new(&config.throttle),
            metrics: moviedb_service_kit::Metrics::new(),
            posters: state::Posters::new(
                config.images.open(&config.data_dir)?,
                config.images.limits,
            ),
        };
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        Ok(Self {
            listener,
            state,
            extra: axum::Router::new(),
            store,
            commands,
            limits: config.limits,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The port actually bound (useful with port 0).
    pub fn port(&self) -> u16 {
        self.local_addr().map_or(0, |a| a.port())
    }

    /// The event store, for tests and other roles sharing the process.
    pub fn store(&self) -> Arc<dyn EventStore> {
        self.store.clone()
    }

    /// The metrics its middleware records: one process serving the query side too reports
    /// them on that side's `/metrics`.
    pub fn metrics(&self) -> moviedb_service_kit::Metrics {
        self.state.metrics.clone()
    }

    /// The command service, for the CLI and other roles sharing the process.
    pub fn commands(&self) -> CommandService {
        self.commands.clone()
    }

    /// Serves `routes` on the same port too (the query side, in one process). They must not
    /// set fallbacks or middleware: the merged router gets them once.
    pub fn merge(mut self, routes: axum::Router) -> Self {
        self.extra = self.extra.merge(routes);
        self
    }

    /// Serves until `shutdown` completes, then finishes the requests in flight.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        tracing::info!(address = %self.listener.local_addr()?, "command API listening");
        let body_limit = self.state.body_limit;
        // On its own, the command API serves its metrics; beside the query side, that side's.
        let extra = if self.extra.has_routes() {
            self.extra
        } else {
            routes::metrics(self.state.clone())
        };
        let metrics = self.state.metrics.clone();
        let router = moviedb_service_kit::with_middleware(
            routes::routes(self.state).merge(extra),
            body_limit,
            &metrics,
        );
        moviedb_service_kit::serve(self.listener, router, self.limits, shutdown).await
    }
}

pub use moviedb_service_kit::shutdown_signal;
