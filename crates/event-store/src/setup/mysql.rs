//! The MySQL side of starting: the database created if missing, schema changes under a
//! named lock.

use crate::StoreError;
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection};
use sqlx::{ConnectOptions, Connection};
use std::str::FromStr;

/// How long a start waits for another process's schema changes.
const LOCK_WAIT_SECS: i64 = 120;
/// The named lock schema changes take, one per database (hashed: lock names have at most 64
/// characters and database names up to 64 of their own).
const SCHEMA_LOCK: &str = "CONCAT('moviedb-schema-', SHA1(DATABASE()))";

/// The server part of a MySQL URL and the database it names.
pub(crate) fn split_database(url: &str) -> Result<(String, String), StoreError> {
    let missing = || StoreError::Config("the MySQL URL names no database".into());
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let host_start = base.find("://").ok_or_else(missing)? + 3;
    let slash = base[host_start..].find('/').ok_or_else(missing)? + host_start;
    let name = &base[slash + 1..];
    if name.is_empty() || name.contains(['`', '/']) {
        return Err(missing());
    }
    let server = match query {
        Some(query) => format!("{}?{query}", &base[..slash]),
        None => base[..slash].to_owned(),
    };
    Ok((server, name.to_owned()))
}

/// Creates the database `url` names unless it exists. Any number of processes may do this at
/// once.
pub async fn ensure_database(url: &str) -> Result<(), StoreError> {
    let (server, name) = split_database(url)?;
    let mut conn = MySqlConnectOptions::from_str(&server)?.connect().await?;
    sqlx::query(&format!(
        "CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4"
    ))
    .execute(&mut conn)
    .await?;
    conn.close().await?;
    Ok(())
}

/// The schema lock of one database, held by a connection of its own: released by
/// [`SchemaLock::release`], or by the server when the process dies (the connection ends).
pub struct SchemaLock(MySqlConnection);

impl SchemaLock {
    /// Waits (up to two minutes) until no other process changes this database's schema.
    pub async fn acquire(url: &str) -> Result<Self, StoreError> {
        let mut conn = MySqlConnectOptions::from_str(url)?.connect().await?;
        let got: Option<i64> = sqlx::query_scalar(&format!("SELECT GET_LOCK({SCHEMA_LOCK}, ?)"))
            .bind(LOCK_WAIT_SECS)
            .fetch_one(&mut conn)
            .await?;
        match got {
            Some(1) => Ok(Self(conn)),
            _ => Err(StoreError::Unavailable(format!(
                "another process held the schema lock for over {LOCK_WAIT_SECS} s"
            ))),
        }
    }

    /// Lets the next process in.
    pub async fn release(mut self) -> Result<(), StoreError> {
        sqlx::query(&format!("DO RELEASE_LOCK({SCHEMA_LOCK})"))
            .execute(&mut self.0)
            .await?;
        self.0.close().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::split_database;

    #[test]
    fn the_database_is_split_from_the_server() {
        assert_eq!(
            split_database("mysql://root:pw@db:3306/moviedb?ssl-mode=disabled").expect("split"),
            (
                "mysql://root:pw@db:3306?ssl-mode=disabled".to_owned(),
                "moviedb".to_owned()
            )
        );
        assert_eq!(
            split_database("mysql://root@127.0.0.1/m").expect("split"),
            ("mysql://root@127.0.0.1".to_owned(), "m".to_owned())
        );
        for bad in [
            "mysql://root@host",
            "mysql://root@host/",
            "mysql://h/a`b",
            "nothing",
        ] {
            assert!(split_database(bad).is_err(), "{bad}");
        }
    }
}
