//! The composition roots of moviedb: which adapters each role runs on, chosen by the
//! environment ([`Config`]). `moviedb` runs every role in one process (the embedded default);
//! `command-api`, `projector` and `query-api` run one role each (the distributed deployment).

pub mod embedded;
pub mod import;
pub mod openapi;

pub use moviedb_service_kit::Config;
