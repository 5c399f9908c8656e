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
}
