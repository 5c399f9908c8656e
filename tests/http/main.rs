//! HTTP tests of the service (command and query side on one port): the real service on port 0, each test its own database,
//! every case run against SQLite and MariaDB.

use moviedb_test_support::chaos_proxy;
use moviedb_test_support::search_server;

mod docs;
mod freshness;
mod idempotency;
mod limits;
mod movies;
mod outage;
mod poster_refusals;
mod posters;
mod reads;
mod robustness;
mod roles;
mod routes;
mod search;
mod search_replay;
mod security;
mod sessions;
mod support;
mod throttle;
mod users;
