//! What the repository's test suites (`tests/*/main.rs`) share, compiled once rather than into
//! each test binary: child processes that are killed when dropped ([`process`]), the Kafka
//! broker tansu ([`broker`]), the OpenSearch-compatible search server ([`search_server`]), the
//! S3-compatible server moto ([`s3_server`]) and a TCP proxy that cuts and restores a server
//! ([`chaos_proxy`]). A dev-dependency only.

pub mod broker;
pub mod chaos_proxy;
pub mod process;
pub mod s3_server;
pub mod search_server;
