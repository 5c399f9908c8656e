//! HTTP tests of the service (command and query side on one port): the real service on port 0, each test its own database,
//! every case run against SQLite and MariaDB.

#[path = "../common/chaos_proxy.rs"]
mod chaos_proxy;
#[path = "../common/process.rs"]
mod process;
#[path = "../common/search_server.rs"]
mod search_server;

mod docs;
mod freshness;
mod idempotency;
mod limits;
mod movies;
mod outage;
mod reads;
mod robustness;
mod routes;
mod search;
mod search_replay;
mod security;
mod sessions;
mod support;
mod throttle;
mod users;
