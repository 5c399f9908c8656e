//! The MySQL event store's group commit: the appends that wait together are written in one
//! transaction sent as one round trip.
//!
//! An append on its own is five or more round trips (BEGIN, the events, the outbox rows, the
//! keys, COMMIT) and a log flush, and under load most of the server's work and the service's
//! was in those round trips, not in the rows. Here a writer task takes every append waiting
//! when it is free (see [`WRITERS`]) and sends them as one batch of statements in the text
//! protocol (values written in as literals, see [`crate::sql_text`]): START TRANSACTION, the
//! checks and the writes, then COMMIT. The batch checks the streams' versions, inserts the
//! events with one multi-row statement, writes their outbox rows, releases and reserves the
//! keys and stores the idempotency records; the positions the events were given come from the
//! server (see [`Positions`]). A group of one is written the same way; a group too large for
//! one packet is split into batches, the first opening the transaction and the last
//! committing it.
//!
//! MySQL runs a batch's statements in order and stops at the first that fails, so COMMIT is
//! reached only when every check and write before it succeeded: a version check that does not
//! hold is written so that it fails (see [`version_checks`]), not answered for this side to
//! judge. Every caller is answered only after the COMMIT's own answer, so nothing is
//! acknowledged that is not durable. A group cannot give each append its own answer when
//! something in it fails (a conflict, a key taken, a deadlock): the transaction is rolled back
//! whole and every append of the group is then written on its own, with prepared statements,
//! each with its own answer. Appends that carry credentials (a registration, rare and already
//! costly) always go on their own.

use crate::mysql::{append_one, is_unique_violation};
use crate::row::sql_version;
use crate::sql_text::SqlText;
use crate::time::now_micros;
use crate::{AppendError, AppendRequest, Appended, StoreError};
use futures::StreamExt;
use sqlx::mysql::{MySql, MySqlPool};
use sqlx::pool::PoolConnection;
use sqlx::{Either, Executor, Row};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Mutex};

/// The most appends written together.
const MAX_GROUP: usize = 128;
/// The most rows in one statement.
const MAX_ROWS: usize = 1000;
/// About the most bytes of values in one statement; a batch is closed once it holds
/// [`BATCH_BYTES`]. Both stay well under MariaDB's smallest `max_allowed_packet` (16 MiB by
/// default; strings are sent as hexadecimal, twice their size).
const STATEMENT_BYTES: usize = 1 << 20;
const BATCH_BYTES: usize = 4 << 20;

/// Groups in flight at once. While a group took three round trips, two writers did better
/// than one (MariaDB adds at 8 connections went from 1 690 to 1 900-1 940 per second; three
/// did no better). Since a group is one round trip, one writer does better than two: the
/// appends that wait while it commits make larger groups, each with its own commit and its
/// own statements (fsyncs per add at 8 connections 0.34 against 0.47; adds 2 756 / 2 260 /
/// 2 774 per second against 2 192 / 1 951 / 2 053, alternating pairs on 2026-12-04). With
/// more than one, two groups may meet on a key or a stream version: the second waits for the
/// first's commit, then fails whole and is written append by append, as any group that meets
/// a conflict is.
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

/// How a group learns the positions its events were given.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Positions {
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
    async fn of(pool: &MySqlPool) -> Self {
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

/// The connection a writer keeps between groups. sqlx pings every connection handed back to
/// its pool (a round trip of its own, and a task); a group per checkout paid one ping per
/// group, about one in three of the round trips an add cost at 8 connections. Kept here, the
/// connection is pinged only after [`crate::pool::PING_AFTER_IDLE`] without use, as the pool
/// would before handing it out, and a failed ping, like any failure that leaves its state
/// unknown, closes it; the next group takes a fresh one from the pool.
#[derive(Default)]
struct Held {
    connection: Option<(PoolConnection<MySql>, std::time::Instant)>,
}

impl Held {
    /// The kept connection, when it is still answering, else a fresh one from the pool.
    async fn take(&mut self, pool: &MySqlPool) -> Result<PoolConnection<MySql>, sqlx::Error> {
        if let Some((mut connection, used)) = self.connection.take() {
            if used.elapsed() <= crate::pool::PING_AFTER_IDLE {
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
    fn keep(&mut self, connection: PoolConnection<MySql>) {
        self.connection = Some((connection, std::time::Instant::now()));
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

/// A pooled connection while a group's transaction may be open on it. Unless the transaction
/// was seen to end (its COMMIT answered, or a ROLLBACK), the connection is closed when dropped
/// rather than kept or handed back to the pool: the server then rolls back whatever it still
/// holds.
struct Connection {
    connection: Option<PoolConnection<MySql>>,
    ended: bool,
}

impl Connection {
    fn new(connection: PoolConnection<MySql>) -> Self {
        Self {
            connection: Some(connection),
            ended: false,
        }
    }

    /// Runs `batch` on the connection (see [`run_batch`]).
    async fn run(
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
    fn keep_in(mut self, held: &mut Held) {
        if self.ended {
            if let Some(connection) = self.connection.take() {
                held.keep(connection);
            }
        }
    }

    fn ended(&mut self) {
        self.ended = true;
    }

    async fn rollback(&mut self) {
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

fn refused(what: &str) -> StoreError {
    StoreError::Database(format!("{what}: the group is written append by append"))
}

/// What one statement of a batch answers.
#[derive(Debug, Clone, PartialEq)]
enum Answer {
    /// `SET TRANSACTION …` or `START TRANSACTION`.
    Begin,
    /// A version check: one row, or an error when the streams are not where they must be.
    Check,
    /// Rows changed; a unique key it hits means one append of the group must be told apart.
    Written(&'static str),
    /// Events inserted, these ids in this order, given consecutive positions from the first
    /// auto-increment value the server answers with; a unique key it hits is a version taken.
    EventsAt(Vec<String>),
    /// `event_id, position` rows.
    Positions,
    /// `COMMIT`: once it answers, the group is durable.
    Commit,
}

/// Statements sent together in one round trip, and what each answers.
#[derive(Default)]
struct Batch {
    sql: SqlText,
    answers: Vec<Answer>,
}

/// The group's transaction, packed into as few batches as [`BATCH_BYTES`] allows.
///
/// In order: the start of the transaction, at READ COMMITTED; the version check (before any
/// insert, so the group's own events do not count); the events, each chunk followed by its
/// outbox rows (see [`Positions`]); the released keys, then the reserved ones
/// (so a name freed and taken in the same group is free); the idempotency records; the
/// positions the events were given, when they are read back; last, COMMIT.
///
/// READ COMMITTED: where the outbox rows are copied from the group's own events by an
/// INSERT … SELECT, REPEATABLE READ locks the gaps around them in the event-id index and so
/// holds up other writers' inserts (another instance's, an append written on its own) until
/// this commit. The version check is a plain read either way, and the unique keys still refuse
/// whatever another transaction took.
fn statements(requests: &[&AppendRequest], mode: Positions) -> Result<Vec<Batch>, StoreError> {
    let recorded_at = now_micros().naive_utc();
    let stream_ids: Vec<String> = requests.iter().map(|r| r.stream_id.to_string()).collect();
    let mut out = Statements::default();
    out.start(Answer::Begin)
        .sql("SET TRANSACTION ISOLATION LEVEL READ COMMITTED");
    out.start(Answer::Begin).sql("START TRANSACTION");
    version_checks(&mut out, requests, &stream_ids)?;
    let mut rows = Vec::new();
    for (request, stream_id) in requests.iter().zip(&stream_ids) {
        for (n, event) in request.events.iter().enumerate() {
            let version = sql_version(request.expected_version + n as u64 + 1)?;
            let event_id = event.event_id.to_string();
            let (payload, metadata) = (event.payload.to_string(), event.metadata.to_string());
            rows.push((
                *request,
                stream_id.as_str(),
                version,
                event,
                event_id,
                payload,
                metadata,
            ));
        }
    }
    let mut id_lists = Vec::new();
    for chunk in chunks(&rows, |(_, _, _, _, _, payload, metadata)| {
        2 * (payload.len() + metadata.len())
    }) {
        let sql = out.start(match mode {
            Positions::Consecutive => Answer::EventsAt(
                chunk
                    .iter()
                    .map(|(_, _, _, _, event_id, _, _)| event_id.clone())
                    .collect(),
            ),
            Positions::ReadBack => Answer::Written("an event's version is taken"),
        });
        sql.sql(
            "INSERT INTO events (event_id, stream_type, stream_id, version, event_type, \
             schema_version, payload, metadata, recorded_at) VALUES ",
        );
        for (i, (request, stream_id, version, event, event_id, payload, metadata)) in
            chunk.iter().enumerate()
        {
            sql.sql(if i == 0 { "(" } else { ", (" });
            sql.text(event_id)
                .sql(", ")
                .text(&request.stream_type)
                .sql(", ");
            sql.text(stream_id).sql(", ").int(*version).sql(", ");
            sql.text(event.event_type.as_str()).sql(", ");
            sql.int(i64::from(event.schema_version)).sql(", ");
            sql.text(payload).sql(", ").text(metadata).sql(", ");
            sql.datetime(recorded_at).sql(")");
        }
        let sql = out.start(Answer::Written("an outbox row"));
        match mode {
            Positions::Consecutive => {
                sql.sql("INSERT INTO outbox (position, created_at) VALUES ");
                for i in 0..chunk.len() {
                    sql.sql(if i == 0 { "(" } else { ", (" })
                        .sql("LAST_INSERT_ID() + ")
                        .int(i as i64)
                        .sql(", ")
                        .datetime(recorded_at)
                        .sql(")");
                }
            }
            Positions::ReadBack => {
                let mut ids = SqlText::default();
                for (i, (_, _, _, _, event_id, _, _)) in chunk.iter().enumerate() {
                    ids.sql(if i == 0 { "" } else { ", " }).text(event_id);
                }
                sql.sql("INSERT INTO outbox (position, created_at) SELECT position, recorded_at FROM events WHERE event_id IN (")
                    .sql(ids.as_str())
                    .sql(")");
                id_lists.push(ids);
            }
        }
    }
    for (request, stream_id) in requests.iter().zip(&stream_ids) {
        for key in &request.release {
            let sql = out.start(Answer::Written("a released key"));
            sql.sql("DELETE FROM unique_keys WHERE kind = ")
                .text(&key.kind)
                .sql(" AND `key` = ")
                .text(&key.key)
                .sql(" AND stream_id = ")
                .text(stream_id);
        }
    }
    let reserved: Vec<_> = requests
        .iter()
        .zip(&stream_ids)
        .flat_map(|(r, id)| r.reserve.iter().map(move |key| (key, id)))
        .collect();
    for chunk in chunks(&reserved, |(key, _)| {
        2 * (key.kind.len() + key.key.len()) + 36
    }) {
        let sql = out.start(Answer::Written("a key is taken"));
        sql.sql("INSERT INTO unique_keys (kind, `key`, stream_id) VALUES ");
        for (i, (key, stream_id)) in chunk.iter().enumerate() {
            sql.sql(if i == 0 { "(" } else { ", (" });
            sql.text(&key.kind).sql(", ").text(&key.key).sql(", ");
            sql.text(stream_id).sql(")");
        }
    }
    let records: Vec<_> = requests
        .iter()
        .filter_map(|r| r.idempotency.as_ref())
        .collect();
    for chunk in chunks(&records, |r| {
        2 * (r.scope.len() + r.key.len() + r.request_hash.len() + r.response.to_string().len())
    }) {
        let sql = out.start(Answer::Written("an idempotency key is used"));
        sql.sql(
            "INSERT INTO idempotency_keys (scope, `key`, request_hash, response, created_at) VALUES ",
        );
        for (i, record) in chunk.iter().enumerate() {
            sql.sql(if i == 0 { "(" } else { ", (" });
            sql.text(&record.scope)
                .sql(", ")
                .text(&record.key)
                .sql(", ");
            sql.text(&record.request_hash).sql(", ");
            sql.text(&record.response.to_string()).sql(", ");
            sql.datetime(recorded_at).sql(")");
        }
    }
    for ids in id_lists {
        out.start(Answer::Positions)
            .sql("SELECT event_id, position FROM events WHERE event_id IN (")
            .sql(ids.as_str())
            .sql(")");
    }
    out.start(Answer::Commit).sql("COMMIT");
    Ok(out.finish())
}

/// Builds batches statement by statement.
#[derive(Default)]
struct Statements {
    done: Vec<Batch>,
    current: Batch,
}

impl Statements {
    /// Starts a statement that answers `answer`, in a new batch if the current one is full.
    fn start(&mut self, answer: Answer) -> &mut SqlText {
        if self.current.sql.len() >= BATCH_BYTES {
            self.done.push(std::mem::take(&mut self.current));
        }
        if !self.current.answers.is_empty() {
            self.current.sql.sql(";\n");
        }
        self.current.answers.push(answer);
        &mut self.current.sql
    }

    fn finish(mut self) -> Vec<Batch> {
        if !self.current.answers.is_empty() {
            self.done.push(self.current);
        }
        self.done
    }
}

/// Splits `rows` into statements of at most [`MAX_ROWS`] rows and about [`STATEMENT_BYTES`].
fn chunks<T>(rows: &[T], size: impl Fn(&T) -> usize) -> Vec<&[T]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, row) in rows.iter().enumerate() {
        if i > start && (i - start >= MAX_ROWS || bytes >= STATEMENT_BYTES) {
            out.push(&rows[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += size(row) + 64;
    }
    if start < rows.len() {
        out.push(&rows[start..]);
    }
    out
}

/// Each stream must be at its expected version: that version exists (the unique key on stream
/// and version refuses the next one if it is already taken). Each guarded stream must be at
/// its guard's version: that version is its last, so exactly one row has it or a later one.
/// One row counted for each condition, or the group is written append by append (which also
/// tells a stream guarded and appended to in the same group apart).
///
/// The check must stop the batch, and so the COMMIT after it, on the server: the count is
/// compared there, and a count that is not the one expected makes the scalar subquery yield
/// two rows, which MySQL and MariaDB refuse (ER_SUBQUERY_NO_1_ROW, 1242). Neither has a plain
/// statement that raises an error on a condition outside a stored program.
fn version_checks(
    out: &mut Statements,
    requests: &[&AppendRequest],
    stream_ids: &[String],
) -> Result<(), StoreError> {
    let mut conditions: Vec<(&str, &str, i64)> = requests
        .iter()
        .zip(stream_ids)
        .filter(|(r, _)| r.expected_version > 0)
        .map(|(r, id)| Ok((id.as_str(), "=", sql_version(r.expected_version)?)))
        .collect::<Result<_, StoreError>>()?;
    let mut guards: Vec<_> = requests.iter().filter_map(|r| r.guard).collect();
    guards.sort_by_key(|g| (g.stream_id, g.version));
    guards.dedup();
    let guarded: Vec<(String, i64)> = guards
        .iter()
        .map(|g| Ok((g.stream_id.to_string(), sql_version(g.version)?)))
        .collect::<Result<_, StoreError>>()?;
    for (stream_id, version) in &guarded {
        conditions.push((stream_id.as_str(), ">=", *version));
    }
    for chunk in conditions.chunks(MAX_ROWS) {
        let sql = out.start(Answer::Check);
        sql.sql("SELECT (SELECT 1 UNION ALL SELECT 1 FROM DUAL WHERE (SELECT COUNT(*) FROM events WHERE ");
        for (i, (stream_id, compare, version)) in chunk.iter().enumerate() {
            sql.sql(if i == 0 {
                "(stream_id = "
            } else {
                " OR (stream_id = "
            });
            sql.text(stream_id)
                .sql(" AND version ")
                .sql(compare)
                .sql(" ")
                .int(*version)
                .sql(")");
        }
        sql.sql(") <> ").int(chunk.len() as i64).sql(")");
    }
    Ok(())
}

/// How a batch failed.
enum Failed {
    /// The server refused a statement before COMMIT, so it ran nothing after it: the
    /// transaction is open (or already rolled back, after a deadlock) and nothing is stored.
    BeforeCommit(StoreError),
    /// The connection failed, the COMMIT itself was refused, or the answers made no sense after
    /// the COMMIT was sent: whether the group is stored is unknown to this side.
    Unknown(StoreError),
}

/// Sends one batch and reads its answers: the positions into `positions`, any check that
/// fails or unique key that is hit as a refusal.
async fn run_batch(
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
fn answers(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{IdempotencyRecord, NewEvent, StreamGuard, UniqueKey};
    use uuid::Uuid;

    fn request(n: usize, payload_bytes: usize) -> AppendRequest {
        let event = NewEvent {
            event_id: Uuid::now_v7(),
            event_type: "MovieAdded".into(),
            schema_version: 1,
            payload: serde_json::json!({ "name": "é".repeat(payload_bytes / 2) }),
            metadata: serde_json::json!({}),
        };
        let mut request = AppendRequest::new("movie", Uuid::now_v7(), 1, vec![event]);
        request.guard = Some(StreamGuard {
            stream_id: Uuid::nil(),
            version: 3,
        });
        request
            .reserve
            .push(UniqueKey::new("movie_title", format!("k{n}")));
        request.idempotency = Some(IdempotencyRecord {
            scope: "s".into(),
            key: format!("i{n}"),
            request_hash: "0".repeat(64),
            response: serde_json::json!({}),
        });
        request
    }

    #[test]
    fn a_small_group_is_one_batch_checked_first_and_answered_last() {
        let requests: Vec<_> = (0..3).map(|n| request(n, 100)).collect();
        let refs: Vec<&AppendRequest> = requests.iter().collect();
        let batches = statements(&refs, Positions::ReadBack).expect("these appends fit");
        assert_eq!(batches.len(), 1);
        assert_eq!(
            batches[0].answers,
            [
                Answer::Begin,
                Answer::Begin,
                // Three expected versions and one guard, counted together.
                Answer::Check,
                Answer::Written("an event's version is taken"),
                Answer::Written("an outbox row"),
                Answer::Written("a key is taken"),
                Answer::Written("an idempotency key is used"),
                Answer::Positions,
                Answer::Commit,
            ]
        );
        let sql = batches[0].sql.as_str();
        assert_eq!(sql.matches(";\n").count(), 8);
        assert!(sql.contains(") <> 4)"), "{sql}");

        // Where the server numbers a statement's rows consecutively, nothing is read back.
        let batches = statements(&refs, Positions::Consecutive).expect("these appends fit");
        let ids = requests
            .iter()
            .map(|r| r.events[0].event_id.to_string())
            .collect();
        assert_eq!(
            batches[0].answers[3..6],
            [
                Answer::EventsAt(ids),
                Answer::Written("an outbox row"),
                Answer::Written("a key is taken"),
            ]
        );
        assert!(!batches[0].answers.contains(&Answer::Positions));
        let sql = batches[0].sql.as_str();
        assert!(sql.contains("VALUES (LAST_INSERT_ID() + 0, "), "{sql}");
        assert!(sql.contains(", (LAST_INSERT_ID() + 2, "), "{sql}");
    }

    #[test]
    fn a_large_group_is_split_into_statements_and_batches_under_the_packet_limit() {
        // 48 appends of about 120 KB of text each: 11 MB of SQL once in hexadecimal.
        let requests: Vec<_> = (0..48).map(|n| request(n, 120_000)).collect();
        let refs: Vec<&AppendRequest> = requests.iter().collect();
        let batches = statements(&refs, Positions::ReadBack).expect("these appends fit");
        assert!(batches.len() >= 3, "{} batches", batches.len());
        for batch in &batches {
            assert!(batch.sql.len() < BATCH_BYTES + 2 * STATEMENT_BYTES);
        }
        let answers: Vec<Answer> = batches.iter().flat_map(|b| b.answers.clone()).collect();
        let inserts = answers
            .iter()
            .filter(|a| **a == Answer::Written("an event's version is taken"))
            .count();
        assert!(inserts >= 5, "{inserts} event statements");
        assert_eq!(
            answers.iter().filter(|a| **a == Answer::Positions).count(),
            inserts
        );
        // One transaction over all the batches: opened by the first, committed by the last.
        assert_eq!(answers[..3], [Answer::Begin, Answer::Begin, Answer::Check]);
        assert!(batches[0].sql.as_str().contains(") <> 49)"));
        assert_eq!(answers.last(), Some(&Answer::Commit));
        assert_eq!(answers.iter().filter(|a| **a == Answer::Commit).count(), 1);
        let last = &batches[batches.len() - 1].answers;
        assert_eq!(last.last(), Some(&Answer::Commit));
    }

    /// A group written both ways (the server's numbering, and reading back): every append is
    /// told the positions its events were stored at, each event has its outbox row, and a group
    /// refused by a key writes nothing. 1 200 events, so more than one INSERT of events, each
    /// numbering its rows from its own first value.
    #[cfg(feature = "test-support")]
    #[tokio::test]
    async fn both_ways_of_learning_positions_answer_the_stored_ones() {
        let database = crate::test_support::MySqlTestDatabase::new();
        let store = crate::MySqlEventStore::connect(database.url())
            .await
            .expect("the test server");
        let pool = store.pool().clone();
        let modes = if Positions::of(&pool).await == Positions::Consecutive {
            vec![Positions::Consecutive, Positions::ReadBack]
        } else {
            eprintln!(
                "skipped the server's numbering: this server numbers concurrent inserts apart \
                 (innodb_autoinc_lock_mode 2); only reading back is tried"
            );
            vec![Positions::ReadBack]
        };
        for mode in modes {
            let requests: Vec<AppendRequest> = (0..400)
                .map(|n| {
                    let events = (0..3)
                        .map(|e| NewEvent {
                            event_id: Uuid::now_v7(),
                            event_type: "MovieAdded".into(),
                            schema_version: 1,
                            payload: serde_json::json!({ "n": n, "e": e }),
                            metadata: serde_json::json!({}),
                        })
                        .collect();
                    AppendRequest::new("movie", Uuid::now_v7(), 0, events)
                })
                .collect();
            let refs: Vec<&AppendRequest> = requests.iter().collect();
            let GroupOutcome::Committed(done) =
                write_group(&pool, &mut Held::default(), &refs, mode).await
            else {
                panic!("{mode:?}: the group was not committed");
            };
            for (request, appended) in requests.iter().zip(&done) {
                assert_eq!(appended.positions.len(), 3);
                for (event, position) in request.events.iter().zip(&appended.positions) {
                    let stored: i64 =
                        sqlx::query_scalar("SELECT position FROM events WHERE event_id = ?")
                            .bind(event.event_id.to_string())
                            .fetch_one(&pool)
                            .await
                            .expect("the event is stored");
                    assert_eq!(stored, *position, "{mode:?}");
                }
            }
            let outbox: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM outbox o JOIN events e ON e.position = o.position",
            )
            .fetch_one(&pool)
            .await
            .expect("count");
            assert_eq!(outbox, 1200, "{mode:?}: one outbox row per event");
            sqlx::query("DELETE FROM outbox")
                .execute(&pool)
                .await
                .expect("emptied");

            // The second append takes the first's key: the whole group is refused, nothing of
            // it stored, and the connection it used is clean for the next group.
            let mut taken: Vec<AppendRequest> = (0..2).map(|n| request(n, 10)).collect();
            for r in &mut taken {
                r.expected_version = 0;
                r.guard = None;
                r.reserve = vec![UniqueKey::new("movie_title", "the same")];
            }
            let refs: Vec<&AppendRequest> = taken.iter().collect();
            assert!(matches!(
                write_group(&pool, &mut Held::default(), &refs, mode).await,
                GroupOutcome::NotWritten(_)
            ));
            let left: i64 = sqlx::query_scalar(
                "SELECT (SELECT COUNT(*) FROM events WHERE stream_id IN (?, ?)) \
                 + (SELECT COUNT(*) FROM unique_keys WHERE `key` = 'the same') \
                 + (SELECT COUNT(*) FROM outbox)",
            )
            .bind(taken[0].stream_id.to_string())
            .bind(taken[1].stream_id.to_string())
            .fetch_one(&pool)
            .await
            .expect("count");
            assert_eq!(left, 0, "{mode:?}: a refused group left rows behind");
        }
    }

    /// The writer keeps one connection between groups (no ping per group). A kept connection
    /// the server has closed is not used again: found by the ping when it has been idle, or
    /// given up after the group it failed (a group's outcome unknown to this side, answered as
    /// such), and the next group is written on a fresh connection.
    #[cfg(feature = "test-support")]
    #[tokio::test]
    async fn the_writer_keeps_its_connection_and_replaces_one_the_server_closed() {
        let database = crate::test_support::MySqlTestDatabase::new();
        let store = crate::MySqlEventStore::connect(database.url())
            .await
            .expect("the test server");
        let pool = store.pool().clone();
        let mode = Positions::of(&pool).await;
        let add = || AppendRequest::new("movie", Uuid::now_v7(), 0, request(1, 8).events);
        let mut held = Held::default();
        async fn written(
            pool: &MySqlPool,
            held: &mut Held,
            mode: Positions,
            request: AppendRequest,
        ) -> bool {
            matches!(
                write_group(pool, held, &[&request], mode).await,
                GroupOutcome::Committed(_)
            )
        }
        async fn kill(pool: &MySqlPool, id: u64) {
            sqlx::query(&format!("KILL CONNECTION {id}"))
                .execute(pool)
                .await
                .expect("kill the kept connection");
        }
        async fn kept_id(held: &mut Held) -> u64 {
            let (connection, _) = held.connection.as_mut().expect("a kept connection");
            sqlx::query_scalar("SELECT CONNECTION_ID()")
                .fetch_one(&mut **connection)
                .await
                .expect("the kept connection answers")
        }

        assert!(written(&pool, &mut held, mode, add()).await);
        let first = kept_id(&mut held).await;
        assert!(written(&pool, &mut held, mode, add()).await);
        assert_eq!(kept_id(&mut held).await, first, "the same connection again");

        // Closed and idle for longer than the ping threshold: the ping finds it.
        kill(&pool, first).await;
        tokio::time::sleep(crate::pool::PING_AFTER_IDLE + std::time::Duration::from_millis(200))
            .await;
        assert!(written(&pool, &mut held, mode, add()).await);
        let second = kept_id(&mut held).await;
        assert_ne!(second, first, "a fresh connection replaced the closed one");

        // Closed just after use: the group fails, its connection is given up.
        kill(&pool, second).await;
        assert!(!written(&pool, &mut held, mode, add()).await);
        assert!(
            held.connection.is_none(),
            "a connection that failed is not kept"
        );
        assert!(written(&pool, &mut held, mode, add()).await);
        let third = kept_id(&mut held).await;
        assert!(third != first && third != second);
    }
}
