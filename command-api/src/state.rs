//! What every handler shares.

use crate::auth::Tokens;
use crate::commands::CommandService;

/// Handler state: the ports behind `Arc`s, chosen by the composition root.
#[derive(Clone)]
pub struct AppState {
    /// Runs commands.
    pub commands: CommandService,
    /// Issues and checks tokens.
    pub tokens: Tokens,
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
    /// Login and registration throttling.
    pub throttle: crate::throttle::Throttle,
    /// The requests counted, for `/metrics`.
    pub metrics: moviedb_service_kit::Metrics,
    /// Where uploaded posters are made and kept.
    pub posters: Posters,
}

/// Poster uploads: the store, the limits, and how many are made at once.
#[derive(Clone)]
pub struct Posters {
    /// Where the sizes are kept.
    pub store: moviedb_images::ImageStore,
    /// What an upload may be.
    pub limits: moviedb_images::Limits,
    /// Uploads made at once, off the runtime's threads: each holds its decoded pixels, so
    /// this bounds their memory.
    permits: std::sync::Arc<tokio::sync::Semaphore>,
}

impl Posters {
    /// Uploads to `store` within `limits`, two made at a time.
    pub fn new(store: moviedb_images::ImageStore, limits: moviedb_images::Limits) -> Self {
        Self {
            store,
            limits,
            permits: std::sync::Arc::new(tokio::sync::Semaphore::new(2)),
        }
    }

    /// Makes every size of `body` on a blocking thread, waiting for a permit first.
    pub async fn process(
        &self,
        body: bytes::Bytes,
        content_type: String,
    ) -> Result<Result<moviedb_images::Processed, moviedb_images::ImageError>, crate::ApiError>
    {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| crate::ApiError::Unavailable("shutting down".into()))?;
        let limits = self.limits;
        tokio::task::spawn_blocking(move || moviedb_images::process(&body, &content_type, &limits))
            .await
            .map_err(|e| crate::ApiError::Internal(format!("making a poster's sizes failed: {e}")))
    }
}
