//! The MySQL event store's group commit (decision record
//! `docs/decisions/0006-group-commit.md`): a writer task takes every append waiting when it is
//! free and writes them in one transaction sent as one batch of SQL text: START TRANSACTION,
//! the checks and the writes, COMMIT. Every caller is answered after the COMMIT's own answer;
//! a group in which anything fails is rolled back whole and each append written on its own.
//!
//! - this file: the queue, the writer loop and what a group's outcome means to its callers;
//! - `statements`: the group as batches of SQL text (checks written to fail, not to be
//!   judged here);
//! - `connection`: the connection a writer keeps between groups, closed whenever the state of
//!   its transaction is unknown;
//! - `replies`: the server's answers: positions, refusals, failures before or after COMMIT;
//! - `tests`: the statements without a server, and the writer against MariaDB.

mod connection;
mod replies;
mod statements;
#[cfg(test)]
mod tests;

use crate::mysql::append_one;
use crate::{AppendError, AppendRequest, Appended, StoreError};
use sqlx::mysql::MySqlPool;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Mutex};

use connection::{Connection, Held};
use replies::{answers, Failed, Positions};
use statements::{statements, MAX_ROWS};

/// The most appends written together.
const MAX_GROUP: usize = 128;
/// Groups in flight at once. One: the appends that wait while it commits make the next, larger
/// group (measured against two in `docs/performance.md`). With more, two groups may meet on a
/// key or a stream version: the second waits for the first's commit, then fails whole and is
/// written append by append.
const WRITERS: usize = 1;

type Reply = oneshot::Sender<Result<Appended, AppendError>>;

/// The handle appends go through; the task stops when the last handle is dropped.
#[derive(Clone)]
pub(crate) struct GroupWriter {
    work: mpsc::UnboundedSender<(AppendRequest, Reply)>,
}

fn gone() -> AppendError {
    AppendError::Store(StoreError::Unavailable(
        "the event store's writer stopped".into(),
    ))
}

impl GroupWriter {
    /// Starts the writer tasks on `pool`, after asking the server how positions can be learnt.
    pub(crate) async fn spawn(pool: MySqlPool) -> Self {
        let positions = Positions::of(&pool).await;
        tracing::debug!(?positions, "group writer started");
        let (work, queue) = mpsc::unbounded_channel();
        let queue: Queue = Arc::new(Mutex::new(queue));
        for _ in 0..WRITERS {
            tokio::spawn(run(pool.clone(), queue.clone(), positions));
        }
        Self { work }
    }

    /// Appends `request`, committed with whatever else is waiting.
    pub(crate) async fn append(&self, request: AppendRequest) -> Result<Appended, AppendError> {
        let (tx, rx) = oneshot::channel();
        self.work.send((request, tx)).map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }
}

type Queue = Arc<Mutex<mpsc::UnboundedReceiver<(AppendRequest, Reply)>>>;

/// One of the [`WRITERS`]: takes the first append waiting and everything queued behind it
/// (the queue is held only while the group is taken), then writes them.
async fn run(pool: MySqlPool, queue: Queue, positions: Positions) {
    let mut held = Held::default();
    loop {
        let group = {
            let mut queue = queue.lock().await;
            let Some(first) = queue.recv().await else {
                return;
            };
            let mut rows = first.0.events.len();
            let mut group = vec![first];
            while group.len() < MAX_GROUP && rows < MAX_ROWS {
                match queue.try_recv() {
                    Ok(work) => {
                        rows += work.0.events.len();
                        group.push(work);
                    }
                    Err(_) => break,
                }
            }
            group
        };
        commit_group(&pool, &mut held, group, positions).await;
    }
}

/// How a group's transaction ended.
enum GroupOutcome {
    /// Committed: each append's result, in order.
    Committed(Vec<Appended>),
    /// Rolled back before COMMIT was sent: nothing of the group is stored.
    NotWritten(StoreError),
    /// COMMIT itself failed: whether it took effect is unknown to this side.
    CommitFailed(StoreError),
}

async fn commit_group(
    pool: &MySqlPool,
    held: &mut Held,
    group: Vec<(AppendRequest, Reply)>,
    positions: Positions,
) {
    let requests: Vec<&AppendRequest> = group.iter().map(|(r, _)| r).collect();
    match write_group(pool, held, &requests, positions).await {
        GroupOutcome::Committed(done) => {
            for ((_, reply), appended) in group.into_iter().zip(done) {
                let _ = reply.send(Ok(appended));
            }
        }
        GroupOutcome::NotWritten(reason) => {
            tracing::debug!(appends = group.len(), %reason, "group append rolled back; writing each on its own");
            let mut each = tokio::task::JoinSet::new();
            for (request, reply) in group {
                let pool = pool.clone();
                each.spawn(async move {
                    let _ = reply.send(append_one(&pool, &request).await);
                });
            }
            while each.join_next().await.is_some() {}
        }
        GroupOutcome::CommitFailed(e) => {
            tracing::error!(error = %e, appends = group.len(), "event store commit failed");
            for (_, reply) in group {
                let _ = reply.send(Err(AppendError::Store(StoreError::Unavailable(
                    e.to_string(),
                ))));
            }
        }
    }
}

async fn write_group(
    pool: &MySqlPool,
    held: &mut Held,
    requests: &[&AppendRequest],
    mode: Positions,
) -> GroupOutcome {
    if requests.iter().any(|r| r.credentials.is_some()) {
        return GroupOutcome::NotWritten(StoreError::Database(
            "credentials are written on their own".into(),
        ));
    }
    let batches = match statements(requests, mode) {
        Ok(statements) => statements,
        Err(e) => return GroupOutcome::NotWritten(e),
    };
    let mut connection = match held.take(pool).await {
        Ok(connection) => Connection::new(connection),
        Err(e) => return GroupOutcome::NotWritten(e.into()),
    };
    let mut positions = HashMap::new();
    for batch in &batches {
        match connection.run(batch, &mut positions).await {
            Ok(()) => {}
            Err(Failed::BeforeCommit(e)) => {
                connection.rollback().await;
                connection.keep_in(held);
                return GroupOutcome::NotWritten(e);
            }
            // The connection is closed, not kept, when it is dropped here.
            Err(Failed::Unknown(e)) => return GroupOutcome::CommitFailed(e),
        }
    }
    connection.ended();
    connection.keep_in(held);
    match answers(requests, &positions) {
        Ok(done) => GroupOutcome::Committed(done),
        // Committed, but some append cannot be told where its events are.
        Err(e) => GroupOutcome::CommitFailed(e),
    }
}
