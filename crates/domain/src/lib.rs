//! The pure domain of moviedb: aggregates, commands, events and the rules they enforce.
//!
//! Nothing here does I/O. Aggregates follow the decide/evolve shape:
//! `decide(&state, &command) -> Result<Vec<Event>, DomainError>` says what happened,
//! `evolve(state, &event) -> state` folds a stream back into state. Adapters (SQLite, MySQL,
//! Kafka, HTTP) live in other crates and only see the types exported here.

pub mod actor;
pub mod aggregate;
pub mod consistency;
pub mod error;
pub mod event;
pub mod movie;
pub mod text;
pub mod user;
pub mod validation;

pub use actor::{Actor, Role};
pub use aggregate::Aggregate;
pub use consistency::{consecutive_ids, ConsistencyToken, StreamVersion};
pub use error::DomainError;
pub use event::{DecodeError, DomainEvent};
pub use validation::{FieldError, ValidationErrors};
