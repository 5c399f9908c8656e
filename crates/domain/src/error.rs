//! Why a command was rejected. Infrastructure failures are not here: they belong to the ports.

use crate::validation::ValidationErrors;

/// A command the domain refused. Each variant maps to one HTTP status at the edge.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DomainError {
    /// Input broke a rule; field-level details inside (422).
    #[error("invalid input: {0}")]
    Invalid(ValidationErrors),
    /// The actor may not do this (403).
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    /// The aggregate does not exist, or was deleted (404).
    #[error("not found")]
    NotFound,
    /// The aggregate already exists (409).
    #[error("already exists")]
    AlreadyExists,
}

impl From<ValidationErrors> for DomainError {
    fn from(errors: ValidationErrors) -> Self {
        DomainError::Invalid(errors)
    }
}
