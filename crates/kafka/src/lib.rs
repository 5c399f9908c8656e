//! moviedb on Kafka: topics `<prefix>.movie-events` and
//! `<prefix>.user-events`, key = stream id (so a stream's events stay in order on one
//! partition), value = the JSON envelope, headers `event_type`, `schema_version`, `event_id`.
//!
//! [`KafkaSink`] is what the outbox relay publishes to (`acks=all`, one request in flight, so a stream stays in order);
//! [`consumer::run`] is the projector's consumer group, which stores offsets only after a batch
//! is applied.

pub mod consumer;
mod sink;
mod topics;

pub use sink::KafkaSink;
pub use topics::{ensure_topics, topic_for, topics};
