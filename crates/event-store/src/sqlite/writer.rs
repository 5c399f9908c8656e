//! The SQLite event store's writer: one thread owns the one write connection and commits the
//! appends that arrive together in one transaction (group commit).
//!
//! SQLite allows one writer at a time and each durable commit is an `fsync`, so appends made
//! one transaction each are capped by the disk's sync rate. Here every append waiting when the
//! thread takes the lock goes into one `BEGIN IMMEDIATE ... COMMIT`, each inside a savepoint of
//! its own: an append that fails (a conflict, a key taken) is rolled back to its savepoint and
//! answered with its error, and the others go on. Every caller is answered only after the
//! shared commit, so nothing is acknowledged that is not durable; if the commit fails, every
//! append of the group gets the error and none is stored.
//!
//! The statements run on this thread through rusqlite with cached prepared statements: sqlx's
//! SQLite driver sends each statement to a worker thread and back, and an append is five or
//! six statements, which cost more in thread hand-offs than in SQLite.

use crate::row::sql_version;
use crate::time::{now_micros, to_sqlite_text};
use crate::{AppendError, AppendRequest, Appended, IdempotencyRecord, StoreError, UniqueKey};
use rusqlite::{params, Connection, ErrorCode, OptionalExtension, TransactionBehavior};
use std::path::Path;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

/// The most appends committed together. A group is as large as what waits when the thread
/// takes the lock, so single writes stay single; a bulk load fills it. Each append writes a
/// page of the name + director reservations' index, where new keys land at random: the more
/// appends per commit, the fewer times each page is written to the log (an import of 200 000
/// movies: about 22k appends/s with groups of 512, 30k/s with 4 096; a page cache of 16 or
/// 64 MiB rather than SQLite's 2 MiB changed nothing). The log is cut back to 64 MiB after a
/// checkpoint (`journal_size_limit`), not left at its largest size.
const MAX_GROUP: usize = 4096;

enum Work {
    Append(
        Box<AppendRequest>,
        oneshot::Sender<Result<Appended, AppendError>>,
    ),
    Idempotency(IdempotencyRecord, oneshot::Sender<Result<(), AppendError>>),
}

/// What the writer thread did with one piece of work, before the commit.
enum Done {
    Append(Result<Appended, AppendError>),
    Idempotency(Result<(), AppendError>),
}

/// The handle appends go through; the thread stops when the last handle is dropped.
#[derive(Clone)]
pub(crate) struct Writer {
    work: mpsc::UnboundedSender<Work>,
}

pub(crate) fn store_error(error: rusqlite::Error) -> StoreError {
    match error.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            StoreError::Contention(error.to_string())
        }
        Some(ErrorCode::CannotOpen | ErrorCode::DiskFull | ErrorCode::SystemIoFailure) => {
            StoreError::Unavailable(error.to_string())
        }
        _ => StoreError::Database(error.to_string()),
    }
}

impl From<rusqlite::Error> for AppendError {
    fn from(error: rusqlite::Error) -> Self {
        AppendError::Store(store_error(error))
    }
}

fn gone() -> AppendError {
    AppendError::Store(StoreError::Unavailable(
        "the event store's writer stopped".into(),
    ))
}

impl Writer {
    /// Opens the database file at `path` for writing (WAL, `synchronous=FULL`: an acknowledged
    /// append survives a power cut) and starts the writer thread.
    pub(crate) fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path).map_err(store_error)?;
        conn.busy_timeout(Duration::from_secs(10))
            .map_err(store_error)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
             PRAGMA journal_size_limit = 67108864;",
        )
        .map_err(store_error)?;
        conn.set_prepared_statement_cache_capacity(32);
        let (work, queue) = mpsc::unbounded_channel();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run(conn, queue))
            .map_err(|e| StoreError::Unavailable(format!("cannot start the writer: {e}")))?;
        Ok(Self { work })
    }

    /// Appends `request`, committed with whatever else is waiting.
    pub(crate) async fn append(&self, request: AppendRequest) -> Result<Appended, AppendError> {
        let (tx, rx) = oneshot::channel();
        self.work
            .send(Work::Append(Box::new(request), tx))
            .map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }

    /// Stores an idempotency record on its own (a bulk add's, after its appends).
    pub(crate) async fn save_idempotency(
        &self,
        record: IdempotencyRecord,
    ) -> Result<(), AppendError> {
        let (tx, rx) = oneshot::channel();
        self.work
            .send(Work::Idempotency(record, tx))
            .map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }
}

fn run(mut conn: Connection, mut queue: mpsc::UnboundedReceiver<Work>) {
    while let Some(first) = queue.blocking_recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(work) => group.push(work),
                Err(_) => break,
            }
        }
        commit_group(&mut conn, group);
    }
}

/// Runs `group` in one transaction, each piece in a savepoint, and answers every caller after
/// the commit.
fn commit_group(conn: &mut Connection, group: Vec<Work>) {
    let outcome = (|| {
        let mut tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut done = Vec::with_capacity(group.len());
        for work in &group {
            let mut savepoint = tx.savepoint()?;
            let result = match work {
                Work::Append(request, _) => Done::Append(append(&savepoint, request)),
                Work::Idempotency(record, _) => {
                    Done::Idempotency(insert_idempotency(&savepoint, record))
                }
            };
            let failed = matches!(&result, Done::Append(Err(_)) | Done::Idempotency(Err(_)));
            if failed {
                savepoint.rollback()?;
            }
            savepoint.commit()?;
            done.push(result);
        }
        tx.commit()?;
        Ok::<_, rusqlite::Error>(done)
    })();
    match outcome {
        Ok(done) => {
            for (work, result) in group.into_iter().zip(done) {
                match (work, result) {
                    (Work::Append(_, reply), Done::Append(r)) => drop(reply.send(r)),
                    (Work::Idempotency(_, reply), Done::Idempotency(r)) => drop(reply.send(r)),
                    // Built in the same order from the same group.
                    _ => {}
                }
            }
        }
        Err(e) => {
            tracing::error!(error = %e, appends = group.len(), "event store commit failed");
            let error = store_error(e);
            for work in group {
                let again = || AppendError::Store(StoreError::Unavailable(error.to_string()));
                match work {
                    Work::Append(_, reply) => drop(reply.send(Err(again()))),
                    Work::Idempotency(_, reply) => drop(reply.send(Err(again()))),
                }
            }
        }
    }
}

fn is_unique_violation(error: &rusqlite::Error) -> bool {
    matches!(error, rusqlite::Error::SqliteFailure(e, _)
        if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
}

fn conflict(request: &AppendRequest) -> AppendError {
    AppendError::Conflict {
        stream_id: request.stream_id,
        expected_version: request.expected_version,
    }
}

/// One append inside its savepoint.
fn append(conn: &Connection, request: &AppendRequest) -> Result<Appended, AppendError> {
    let stream_id = request.stream_id.to_string();
    let recorded_at = to_sqlite_text(now_micros());
    let mut positions = Vec::with_capacity(request.events.len());
    let mut version = request.expected_version;
    let mut insert = conn.prepare_cached(
        "INSERT INTO events (event_id, stream_type, stream_id, version, event_type, \
         schema_version, payload, metadata, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )?;
    for event in &request.events {
        version += 1;
        let inserted = insert.execute(params![
            event.event_id.to_string(),
            request.stream_type,
            stream_id,
            sql_version(version)?,
            event.event_type,
            i64::from(event.schema_version),
            event.payload.to_string(),
            event.metadata.to_string(),
            recorded_at,
        ]);
        match inserted {
            Ok(_) => positions.push(conn.last_insert_rowid()),
            Err(e) if is_unique_violation(&e) => return Err(conflict(request)),
            Err(e) => return Err(e.into()),
        }
    }
    if request.expected_version > 0 {
        let found: Option<i64> = conn
            .prepare_cached("SELECT 1 FROM events WHERE stream_id = ? AND version = ?")?
            .query_row(
                params![stream_id, sql_version(request.expected_version)?],
                |r| r.get(0),
            )
            .optional()?;
        if found.is_none() {
            return Err(conflict(request));
        }
    }
    if let Some(guard) = &request.guard {
        let head: Option<i64> = conn
            .prepare_cached("SELECT MAX(version) FROM events WHERE stream_id = ?")?
            .query_row(params![guard.stream_id.to_string()], |r| r.get(0))?;
        if head != Some(sql_version(guard.version)?) {
            return Err(AppendError::GuardMoved {
                stream_id: guard.stream_id,
                version: guard.version,
            });
        }
    }
    for key in &request.release {
        conn.prepare_cached(
            "DELETE FROM unique_keys WHERE kind = ? AND key = ? AND stream_id = ?",
        )?
        .execute(params![key.kind, key.key, stream_id])?;
    }
    for key in &request.reserve {
        let claimed = conn
            .prepare_cached("INSERT INTO unique_keys (kind, key, stream_id) VALUES (?, ?, ?)")?
            .execute(params![key.kind, key.key, stream_id]);
        match claimed {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => return Err(key_taken(conn, key)?),
            Err(e) => return Err(e.into()),
        }
    }
    if let Some(credentials) = &request.credentials {
        let inserted = conn
            .prepare_cached(
                "INSERT INTO credentials (user_id, email, password_hash) VALUES (?, ?, ?)",
            )?
            .execute(params![
                credentials.user_id.to_string(),
                credentials.email,
                credentials.password_hash
            ]);
        match inserted {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                return Err(key_taken(
                    conn,
                    &UniqueKey::new("email", credentials.email.clone()),
                )?)
            }
            Err(e) => return Err(e.into()),
        }
    }
    if let Some(record) = &request.idempotency {
        insert_idempotency(conn, record)?;
    }
    Ok(Appended {
        stream_id: request.stream_id,
        version,
        positions,
    })
}

fn key_taken(conn: &Connection, key: &UniqueKey) -> Result<AppendError, AppendError> {
    let owner: Option<String> = conn
        .prepare_cached("SELECT stream_id FROM unique_keys WHERE kind = ? AND key = ?")?
        .query_row(params![key.kind, key.key], |r| r.get(0))
        .optional()?;
    let owner = match owner {
        Some(owner) => crate::row::parse_uuid("unique_keys.stream_id", &owner)?,
        // A credentials row without a reservation: only possible for e-mail.
        None => Uuid::nil(),
    };
    Ok(AppendError::KeyTaken {
        kind: key.kind.clone(),
        owner,
    })
}

fn insert_idempotency(conn: &Connection, record: &IdempotencyRecord) -> Result<(), AppendError> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO idempotency_keys (scope, key, request_hash, response, created_at) \
             VALUES (?, ?, ?, ?, ?)",
        )?
        .execute(params![
            record.scope,
            record.key,
            record.request_hash,
            record.response.to_string(),
            to_sqlite_text(now_micros()),
        ]);
    match inserted {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => Err(AppendError::IdempotencyKeyUsed),
        Err(e) => Err(e.into()),
    }
}
