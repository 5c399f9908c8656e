//! The plumbing moviedb's two stores share, the event store and the read models, and the
//! loops that wait on them: SQL text with its values written in as literals ([`text`]), the
//! pools' settings ([`pool`]), the one retry policy ([`retry`]) and times in microseconds
//! ([`time`]). It depends on no other moviedb crate.

pub mod pool;
pub mod retry;
pub mod text;
pub mod time;

pub use pool::ping_when_idle;
pub use retry::Backoff;
pub use text::SqlText;
