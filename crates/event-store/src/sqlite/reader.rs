//! Reads of the event log in bulk (the feed's tail, a rebuild's replay) through rusqlite, on
//! Tokio's blocking threads.
//!
//! sqlx's SQLite driver copies every value of every row (`sqlite3_value_dup`) and hands each
//! row from its worker thread to Tokio's: replaying 1 000 000 events, `perf` put about half
//! the rebuild's CPU time there and in the wake-ups between the threads. Here a page of
//! events is read into its rows in one go, on one thread, with a cached statement.

use super::writer::store_error;
use crate::row::{RawEvent, EVENT_COLUMNS};
use crate::time::from_sqlite_text;
use crate::{StoreError, StoredEvent};
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Connections kept open between reads.
const IDLE: usize = 2;

/// Read-only connections to the event store's file, opened on demand, a few kept.
#[derive(Clone)]
pub(crate) struct LogReader {
    path: PathBuf,
    idle: Arc<Mutex<Vec<Connection>>>,
}

impl LogReader {
    pub(crate) fn new(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
            idle: Arc::default(),
        }
    }

    /// Up to `limit` events after position `after`, in position order.
    pub(crate) async fn read_all(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let reader = self.clone();
        tokio::task::spawn_blocking(move || reader.read_all_now(after, limit))
            .await
            .map_err(|e| StoreError::Unavailable(format!("the event log reader stopped: {e}")))?
    }

    fn read_all_now(&self, after: i64, limit: u32) -> Result<Vec<StoredEvent>, StoreError> {
        let taken = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let conn = match taken {
            Some(conn) => conn,
            None => self.open()?,
        };
        let raw = read_page(&conn, after, limit).map_err(store_error)?;
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < IDLE {
                idle.push(conn);
            }
        }
        raw.into_iter()
            .map(|(raw, recorded_at)| {
                RawEvent {
                    recorded_at: from_sqlite_text(&recorded_at)?,
                    ..raw
                }
                .into_stored()
            })
            .collect()
    }

    fn open(&self) -> Result<Connection, StoreError> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(store_error)?;
        conn.busy_timeout(Duration::from_secs(10))
            .map_err(store_error)?;
        // As the sqlx readers: 512 KiB of pages; the rest is in the operating system's cache.
        conn.execute_batch("PRAGMA cache_size = -512;")
            .map_err(store_error)?;
        Ok(conn)
    }
}

/// The rows of one page, each with its `recorded_at` text still to decode.
fn read_page(
    conn: &Connection,
    after: i64,
    limit: u32,
) -> rusqlite::Result<Vec<(RawEvent, String)>> {
    let mut statement = conn.prepare_cached(&format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE position > ?1 ORDER BY position LIMIT ?2"
    ))?;
    let rows = statement.query_map((after, i64::from(limit)), |row| {
        Ok((
            RawEvent {
                position: row.get(0)?,
                event_id: row.get(1)?,
                stream_type: row.get(2)?,
                stream_id: row.get(3)?,
                version: row.get(4)?,
                event_type: row.get(5)?,
                schema_version: row.get(6)?,
                payload: row.get(7)?,
                metadata: row.get(8)?,
                recorded_at: chrono::DateTime::UNIX_EPOCH,
            },
            row.get(9)?,
        ))
    })?;
    rows.collect()
}
