//! HTTP tests of the command API: the real service on port 0, each test its own database,
//! every case run against SQLite and MariaDB.

mod movies;
mod robustness;
mod security;
mod sessions;
mod support;
mod users;
