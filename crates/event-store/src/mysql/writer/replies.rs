//! What the server answers a group: the positions its events were given, and refusals.

use crate::mysql::is_unique_violation;
use crate::{AppendRequest, Appended, StoreError};
use futures::StreamExt;
use sqlx::mysql::{MySql, MySqlPool};
use sqlx::pool::PoolConnection;
use sqlx::{Either, Row};
use std::collections::HashMap;

use super::statements::{Answer, Batch};

/// How a group learns the positions its events were given.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Positions {
    /// From the first auto-increment value of each multi-row INSERT, which the server answers
    /// with: it gives the rows of one such statement consecutive values
    /// (`innodb_autoinc_lock_mode` 0 or 1, MariaDB's default, and `auto_increment_increment`
    /// 1). The outbox rows are written from `LAST_INSERT_ID()` too, so neither is a query.
    Consecutive,
    /// Read back by event id after the inserts (`innodb_autoinc_lock_mode` 2, MySQL 8's
    /// default, where the values of concurrent inserts interleave), the outbox rows copied by
    /// an INSERT … SELECT.
    ReadBack,
}

impl Positions {
    /// What the server guarantees; reading back when it cannot be asked.
    pub(super) async fn of(pool: &MySqlPool) -> Self {
        let consecutive = sqlx::query_scalar::<_, i64>(
            "SELECT @@innodb_autoinc_lock_mode IN (0, 1) AND @@auto_increment_increment = 1",
        )
        .fetch_one(pool)
        .await;
        match consecutive {
            Ok(1) => Positions::Consecutive,
            Ok(_) => Positions::ReadBack,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the auto-increment settings; positions are read back");
                Positions::ReadBack
            }
        }
    }
}

pub(super) fn refused(what: &str) -> StoreError {
    StoreError::Database(format!("{what}: the group is written append by append"))
}

/// How a batch failed.
pub(super) enum Failed {
    /// The server refused a statement before COMMIT, so it ran nothing after it: the
    /// transaction is open (or already rolled back, after a deadlock) and nothing is stored.
    BeforeCommit(StoreError),
    /// The connection failed, the COMMIT itself was refused, or the answers made no sense after
    /// the COMMIT was sent: whether the group is stored is unknown to this side.
    Unknown(StoreError),
}

/// Sends one batch and reads its answers: the positions into `positions`, any check that
/// fails or unique key that is hit as a refusal.
pub(super) async fn run_batch(
    connection: &mut PoolConnection<MySql>,
    batch: &Batch,
    positions: &mut HashMap<String, i64>,
) -> Result<(), Failed> {
    let commits = batch.answers.contains(&Answer::Commit);
    // Anything this side cannot make sense of: before a COMMIT was sent, the server still
    // waits for this side and the transaction is rolled back; after, it may have committed.
    let confused = |e: StoreError| {
        if commits {
            Failed::Unknown(e)
        } else {
            Failed::BeforeCommit(e)
        }
    };
    let mut results = sqlx::raw_sql(batch.sql.as_str()).fetch_many(&mut **connection);
    let mut answers = batch.answers.iter();
    let mut answer = answers.next();
    while let Some(item) = results.next().await {
        let item = match item {
            Ok(item) => item,
            Err(e @ sqlx::Error::Database(_)) if answer != Some(&Answer::Commit) => {
                return Err(Failed::BeforeCommit(match answer {
                    Some(Answer::Written(what)) if is_unique_violation(&e) => refused(what),
                    Some(Answer::EventsAt(_)) if is_unique_violation(&e) => {
                        refused("an event's version is taken")
                    }
                    Some(Answer::Check) => {
                        refused("a stream is not at its expected or guarded version")
                    }
                    _ => e.into(),
                }));
            }
            Err(e @ sqlx::Error::Database(_)) => return Err(Failed::Unknown(e.into())),
            Err(e) => return Err(confused(e.into())),
        };
        match (item, answer) {
            (Either::Right(_), Some(Answer::Check)) => {}
            (Either::Right(row), Some(Answer::Positions)) => {
                let (id, position) = row
                    .try_get(0)
                    .and_then(|id| Ok((id, row.try_get(1)?)))
                    .map_err(|e| confused(e.into()))?;
                positions.insert(id, position);
            }
            (Either::Right(_), _) => {
                return Err(confused(StoreError::Corrupt(
                    "a write answered rows".into(),
                )));
            }
            (Either::Left(done), Some(Answer::EventsAt(ids))) => {
                let first = i64::try_from(done.last_insert_id())
                    .ok()
                    .filter(|_| done.rows_affected() == ids.len() as u64)
                    .ok_or_else(|| {
                        confused(StoreError::Corrupt(format!(
                            "{} events inserted, {} answered, first position {}",
                            ids.len(),
                            done.rows_affected(),
                            done.last_insert_id()
                        )))
                    })?;
                positions.extend(ids.iter().cloned().zip(first..));
                answer = answers.next();
            }
            (Either::Left(_), _) => answer = answers.next(),
        }
    }
    if answer.is_some() {
        return Err(confused(StoreError::Corrupt(
            "the batch answered fewer statements than it sent".into(),
        )));
    }
    Ok(())
}

/// Each append's answer, from the positions its events were given.
pub(super) fn answers(
    requests: &[&AppendRequest],
    positions: &HashMap<String, i64>,
) -> Result<Vec<Appended>, StoreError> {
    requests
        .iter()
        .map(|request| {
            let positions = request
                .events
                .iter()
                .map(|event| {
                    positions
                        .get(&event.event_id.to_string())
                        .copied()
                        .ok_or_else(|| {
                            StoreError::Corrupt("an inserted event was not found".into())
                        })
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Appended {
                stream_id: request.stream_id,
                version: request.expected_version + request.events.len() as u64,
                positions,
            })
        })
        .collect()
}
