//! The MySQL event store's group commit: the appends that wait together are written in one
//! transaction, with one multi-row statement per table.
//!
//! An append on its own is five round trips (BEGIN, the events, the outbox rows, the keys,
//! COMMIT) and a log flush. Under load, most of the server's work and the service's was in
//! those round trips, not in the rows. Here a writer task takes every append waiting when it
//! is free and writes them together (two such tasks, so one group is taken and written while
//! the other waits on its commit): the events in one INSERT, their positions read back in one
//! SELECT, the outbox rows in one INSERT, the reserved keys in one INSERT, the idempotency
//! records in one INSERT, then one COMMIT, so the round trips are shared by the whole group.
//!
//! Every caller is answered only after the shared commit, so nothing is acknowledged that is
//! not durable. A group cannot give each append its own answer when something in it fails (a
//! conflict, a key taken, a deadlock): the transaction is rolled back whole and every append of
//! the group is then written on its own, as before, each with its own answer. Appends that
//! carry credentials (a registration, rare and already costly) always go on their own.

use crate::mysql::{append_one, is_unique_violation};
use crate::row::sql_version;
use crate::time::now_micros;
use crate::{AppendError, AppendRequest, Appended, StoreError};
use chrono::NaiveDateTime;
use sqlx::mysql::{MySql, MySqlPool};
use sqlx::{QueryBuilder, Row, Transaction};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Mutex};

/// The most appends written together.
const MAX_GROUP: usize = 128;
/// The most rows in one statement (nine placeholders each for events, under MySQL's 65 535).
const MAX_ROWS: usize = 1000;

/// Groups in flight at once. While one group waits on its round trips and its commit, the
/// next is formed and written: MariaDB adds at 8 connections went from 1 690 to 1 900-1 940
/// per second with two (three did no better). Two groups may meet on a key or a stream
/// version: the second waits for the first's commit, then fails whole and is written append by
/// append, as any group that meets a conflict is.
const WRITERS: usize = 2;

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
    /// Starts the writer task on `pool`; call within a Tokio runtime.
    pub(crate) fn spawn(pool: MySqlPool) -> Self {
        let (work, queue) = mpsc::unbounded_channel();
        let queue: Queue = Arc::new(Mutex::new(queue));
        for _ in 0..WRITERS {
            tokio::spawn(run(pool.clone(), queue.clone()));
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
async fn run(pool: MySqlPool, queue: Queue) {
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
        commit_group(&pool, group).await;
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

async fn commit_group(pool: &MySqlPool, group: Vec<(AppendRequest, Reply)>) {
    if group.len() == 1 {
        for (request, reply) in group {
            let _ = reply.send(append_one(pool, &request).await);
        }
        return;
    }
    let requests: Vec<&AppendRequest> = group.iter().map(|(r, _)| r).collect();
    match write_group(pool, &requests).await {
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

async fn write_group(pool: &MySqlPool, requests: &[&AppendRequest]) -> GroupOutcome {
    if requests.iter().any(|r| r.credentials.is_some()) {
        return GroupOutcome::NotWritten(StoreError::Database(
            "credentials are written on their own".into(),
        ));
    }
    let mut tx = match pool.begin().await {
        Ok(tx) => tx,
        Err(e) => return GroupOutcome::NotWritten(e.into()),
    };
    let done = match write(&mut tx, requests).await {
        Ok(done) => done,
        // Dropping the transaction rolls it back.
        Err(e) => return GroupOutcome::NotWritten(e),
    };
    match tx.commit().await {
        Ok(()) => GroupOutcome::Committed(done),
        Err(e) => GroupOutcome::CommitFailed(e.into()),
    }
}

fn refused(what: &str) -> StoreError {
    StoreError::Database(format!("{what}: the group is written append by append"))
}

/// A failed insert: a unique key it hit means one append of the group must be told apart.
fn refused_if_taken(error: sqlx::Error, what: &str) -> StoreError {
    if is_unique_violation(&error) {
        refused(what)
    } else {
        error.into()
    }
}

/// Writes the whole group inside `tx`; any failure leaves it to be rolled back.
async fn write(
    tx: &mut Transaction<'_, MySql>,
    requests: &[&AppendRequest],
) -> Result<Vec<Appended>, StoreError> {
    let recorded_at = now_micros().naive_utc();
    let stream_ids: Vec<String> = requests.iter().map(|r| r.stream_id.to_string()).collect();
    check_versions(tx, requests, &stream_ids).await?;
    let done = insert_events(tx, requests, &stream_ids, recorded_at).await?;
    insert_keys_and_records(tx, requests, &stream_ids, recorded_at).await?;
    Ok(done)
}

/// Each stream must be at its expected version: that version exists (the unique key on stream
/// and version refuses the next one if it is already taken). Each guarded stream must be at
/// its guard's version: that version is its last, so exactly one row has it or a later one.
/// One row counted for each condition, or the group is written append by append (which also
/// tells a stream guarded and appended to in the same group apart).
async fn check_versions(
    tx: &mut Transaction<'_, MySql>,
    requests: &[&AppendRequest],
    stream_ids: &[String],
) -> Result<(), StoreError> {
    let mut conditions: Vec<(String, &str, i64)> = requests
        .iter()
        .zip(stream_ids)
        .filter(|(r, _)| r.expected_version > 0)
        .map(|(r, id)| Ok((id.clone(), "=", sql_version(r.expected_version)?)))
        .collect::<Result<_, StoreError>>()?;
    let mut guards: Vec<_> = requests.iter().filter_map(|r| r.guard).collect();
    guards.sort_by_key(|g| (g.stream_id, g.version));
    guards.dedup();
    for guard in guards {
        conditions.push((
            guard.stream_id.to_string(),
            ">=",
            sql_version(guard.version)?,
        ));
    }
    for chunk in conditions.chunks(MAX_ROWS) {
        let mut check = QueryBuilder::<MySql>::new("SELECT COUNT(*) FROM events WHERE ");
        let mut each = check.separated(" OR ");
        for (stream_id, compare, version) in chunk {
            each.push("(stream_id = ");
            each.push_bind_unseparated(stream_id.as_str());
            each.push_unseparated(format!(" AND version {compare} "));
            each.push_bind_unseparated(*version);
            each.push_unseparated(")");
        }
        let found: i64 = check.build().fetch_one(&mut **tx).await?.try_get(0)?;
        if usize::try_from(found).ok() != Some(chunk.len()) {
            return Err(refused(
                "a stream is not at its expected or guarded version",
            ));
        }
    }
    Ok(())
}

/// Inserts the events, reads back the positions they were given, and adds their outbox rows.
async fn insert_events(
    tx: &mut Transaction<'_, MySql>,
    requests: &[&AppendRequest],
    stream_ids: &[String],
    recorded_at: NaiveDateTime,
) -> Result<Vec<Appended>, StoreError> {
    let mut rows = Vec::new();
    for (request, stream_id) in requests.iter().zip(stream_ids) {
        for (n, event) in request.events.iter().enumerate() {
            let version = sql_version(request.expected_version + n as u64 + 1)?;
            rows.push((*request, stream_id.as_str(), version, event));
        }
    }
    let mut positions: HashMap<String, i64> = HashMap::with_capacity(rows.len());
    for chunk in rows.chunks(MAX_ROWS) {
        let mut insert = QueryBuilder::<MySql>::new(
            "INSERT INTO events (event_id, stream_type, stream_id, version, event_type, \
             schema_version, payload, metadata, recorded_at) ",
        );
        insert.push_values(chunk, |mut row, (request, stream_id, version, event)| {
            row.push_bind(event.event_id.to_string())
                .push_bind(&request.stream_type)
                .push_bind(*stream_id)
                .push_bind(*version)
                .push_bind(event.event_type.as_str())
                .push_bind(i64::from(event.schema_version))
                .push_bind(event.payload.to_string())
                .push_bind(event.metadata.to_string())
                .push_bind(recorded_at);
        });
        insert
            .build()
            .execute(&mut **tx)
            .await
            .map_err(|e| refused_if_taken(e, "an event's version is taken"))?;
        let mut select =
            QueryBuilder::<MySql>::new("SELECT event_id, position FROM events WHERE event_id IN (");
        let mut ids = select.separated(", ");
        for (_, _, _, event) in chunk {
            ids.push_bind(event.event_id.to_string());
        }
        select.push(")");
        for row in select.build().fetch_all(&mut **tx).await? {
            positions.insert(row.try_get(0)?, row.try_get(1)?);
        }
    }
    let mut done = Vec::with_capacity(requests.len());
    let mut all = Vec::with_capacity(rows.len());
    for request in requests {
        let mut mine = Vec::with_capacity(request.events.len());
        for event in &request.events {
            let position = positions
                .get(&event.event_id.to_string())
                .copied()
                .ok_or_else(|| StoreError::Corrupt("an inserted event was not found".into()))?;
            mine.push(position);
        }
        all.extend_from_slice(&mine);
        done.push(Appended {
            stream_id: request.stream_id,
            version: request.expected_version + request.events.len() as u64,
            positions: mine,
        });
    }
    for chunk in all.chunks(MAX_ROWS) {
        let mut outbox = QueryBuilder::<MySql>::new("INSERT INTO outbox (position, created_at) ");
        outbox.push_values(chunk, |mut row, position| {
            row.push_bind(*position).push_bind(recorded_at);
        });
        outbox.build().execute(&mut **tx).await?;
    }
    Ok(done)
}

/// Releases and reserves the group's keys (released first, so a name freed and taken in the
/// same group is free) and stores its idempotency records.
async fn insert_keys_and_records(
    tx: &mut Transaction<'_, MySql>,
    requests: &[&AppendRequest],
    stream_ids: &[String],
    recorded_at: NaiveDateTime,
) -> Result<(), StoreError> {
    for (request, stream_id) in requests.iter().zip(stream_ids) {
        for key in &request.release {
            sqlx::query("DELETE FROM unique_keys WHERE kind = ? AND `key` = ? AND stream_id = ?")
                .bind(&key.kind)
                .bind(&key.key)
                .bind(stream_id)
                .execute(&mut **tx)
                .await?;
        }
    }
    let reserved: Vec<_> = requests
        .iter()
        .zip(stream_ids)
        .flat_map(|(r, id)| r.reserve.iter().map(move |key| (key, id)))
        .collect();
    for chunk in reserved.chunks(MAX_ROWS) {
        let mut insert =
            QueryBuilder::<MySql>::new("INSERT INTO unique_keys (kind, `key`, stream_id) ");
        insert.push_values(chunk, |mut row, (key, stream_id)| {
            row.push_bind(&key.kind)
                .push_bind(&key.key)
                .push_bind(stream_id.as_str());
        });
        insert
            .build()
            .execute(&mut **tx)
            .await
            .map_err(|e| refused_if_taken(e, "a key is taken"))?;
    }
    let records: Vec<_> = requests
        .iter()
        .filter_map(|r| r.idempotency.as_ref())
        .collect();
    for chunk in records.chunks(MAX_ROWS) {
        let mut insert = QueryBuilder::<MySql>::new(
            "INSERT INTO idempotency_keys (scope, `key`, request_hash, response, created_at) ",
        );
        insert.push_values(chunk, |mut row, record| {
            row.push_bind(&record.scope)
                .push_bind(&record.key)
                .push_bind(&record.request_hash)
                .push_bind(record.response.to_string())
                .push_bind(recorded_at);
        });
        insert
            .build()
            .execute(&mut **tx)
            .await
            .map_err(|e| refused_if_taken(e, "an idempotency key is used"))?;
    }
    Ok(())
}
