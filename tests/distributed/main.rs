//! The distributed deployment: the `command-api`, `projector` and `query-api` binaries as
//! separate processes on MariaDB, each suite with what it needs beside them.
//!
//! - [`kafka`]: several instances of each role on the Kafka-compatible broker tansu, a broker
//!   restart in the middle of writes (built with `--features kafka`).
//! - [`gateway`]: the nginx gateway of docker-compose.yml in front of the three roles.
//! - [`replica`]: the query API reading from a MariaDB replica, read-your-writes kept.
//!
//! Each suite says it was skipped when its dependency (tansu, nginx, MariaDB's server binaries)
//! is missing, unless `scripts/test` requires it.

mod gateway;
#[cfg(feature = "kafka")]
mod kafka;
mod replica;
