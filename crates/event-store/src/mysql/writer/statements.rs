//! A group's transaction as batches of SQL text: the checks, the writes and COMMIT.

use crate::row::sql_version;
use crate::time::now_micros;
use crate::{AppendRequest, StoreError};
use moviedb_sql_kit::SqlText;

use super::replies::Positions;

/// The most rows in one statement.
pub(super) const MAX_ROWS: usize = 1000;
/// About the most bytes of values in one statement; a batch is closed once it holds
/// [`BATCH_BYTES`]. Both stay well under MariaDB's smallest `max_allowed_packet` (16 MiB by
/// default; strings are sent as hexadecimal, twice their size).
pub(super) const STATEMENT_BYTES: usize = 1 << 20;
pub(super) const BATCH_BYTES: usize = 4 << 20;

/// What one statement of a batch answers.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Answer {
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
pub(super) struct Batch {
    pub(super) sql: SqlText,
    pub(super) answers: Vec<Answer>,
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
pub(super) fn statements(
    requests: &[&AppendRequest],
    mode: Positions,
) -> Result<Vec<Batch>, StoreError> {
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
pub(super) struct Statements {
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
pub(super) fn chunks<T>(rows: &[T], size: impl Fn(&T) -> usize) -> Vec<&[T]> {
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
pub(super) fn version_checks(
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
