//! The connection a writer keeps between groups, and the one a group's transaction runs on.

use crate::StoreError;
use sqlx::mysql::{MySql, MySqlPool};
use sqlx::pool::PoolConnection;
use sqlx::Executor;
use std::collections::HashMap;

use super::replies::{run_batch, Failed};
use super::statements::Batch;

/// The connection a writer keeps between groups. sqlx pings every connection handed back to
/// its pool (a round trip of its own, and a task); a group per checkout paid one ping per
/// group, about one in three of the round trips an add cost at 8 connections. Kept here, the
/// connection is pinged only after [`moviedb_sql_kit::pool::PING_AFTER_IDLE`] without use, as the pool
/// would before handing it out, and a failed ping, like any failure that leaves its state
/// unknown, closes it; the next group takes a fresh one from the pool.
#[derive(Default)]
pub(super) struct Held {
    pub(super) connection: Option<(PoolConnection<MySql>, std::time::Instant)>,
}

impl Held {
    /// The kept connection, when it is still answering, else a fresh one from the pool.
    pub(super) async fn take(
        &mut self,
        pool: &MySqlPool,
    ) -> Result<PoolConnection<MySql>, sqlx::Error> {
        if let Some((mut connection, used)) = self.connection.take() {
            if used.elapsed() <= moviedb_sql_kit::pool::PING_AFTER_IDLE {
                return Ok(connection);
            }
            match sqlx::Connection::ping(&mut *connection).await {
                Ok(()) => return Ok(connection),
                Err(e) => {
                    tracing::debug!(error = %e, "the writer's connection stopped answering; taking another");
                    connection.close_on_drop();
                }
            }
        }
        pool.acquire().await
    }

    /// Keeps `connection` for the next group.
    pub(super) fn keep(&mut self, connection: PoolConnection<MySql>) {
        self.connection = Some((connection, std::time::Instant::now()));
    }
}

/// A pooled connection while a group's transaction may be open on it. Unless the transaction
/// was seen to end (its COMMIT answered, or a ROLLBACK), the connection is closed when dropped
/// rather than kept or handed back to the pool: the server then rolls back whatever it still
/// holds.
pub(super) struct Connection {
    connection: Option<PoolConnection<MySql>>,
    ended: bool,
}

impl Connection {
    pub(super) fn new(connection: PoolConnection<MySql>) -> Self {
        Self {
            connection: Some(connection),
            ended: false,
        }
    }

    /// Runs `batch` on the connection (see [`run_batch`]).
    pub(super) async fn run(
        &mut self,
        batch: &Batch,
        positions: &mut HashMap<String, i64>,
    ) -> Result<(), Failed> {
        match &mut self.connection {
            Some(connection) => run_batch(connection, batch, positions).await,
            // Only `keep_in` gives the connection up, and it consumes `self`.
            None => Err(Failed::BeforeCommit(StoreError::Unavailable(
                "the group's connection was given up".into(),
            ))),
        }
    }

    /// Gives the connection to the writer for its next group, when its transaction ended;
    /// otherwise it is closed here.
    pub(super) fn keep_in(mut self, held: &mut Held) {
        if self.ended {
            if let Some(connection) = self.connection.take() {
                held.keep(connection);
            }
        }
    }

    pub(super) fn ended(&mut self) {
        self.ended = true;
    }

    pub(super) async fn rollback(&mut self) {
        let Some(connection) = &mut self.connection else {
            return;
        };
        match connection.execute("ROLLBACK").await {
            Ok(_) => self.ended(),
            Err(e) => tracing::debug!(error = %e, "rollback failed; closing the connection"),
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        if let Some(connection) = &mut self.connection {
            if !self.ended {
                connection.close_on_drop();
            }
        }
    }
}
