//! A movie's history: every event of its stream, kept by the projector so the query side can
//! serve the audit trail without the event store.
//!
//! The table is append-only and keyed by (movie, version), and events never change, so a row
//! is either right or missing. It is therefore not part of a rebuild's swap; the projector
//! fills missing rows from the event store when it starts (`moviedb_projector::history`), and
//! a row written twice (by that and the live projector at once) is written once.

use crate::apply::{micros, sql_version, write_inserts, Insert};
use crate::query::Param;
use crate::schema::Dialect;
use crate::ReadModelError;
use moviedb_domain::Aggregate;
use moviedb_event_store::StoredEvent;
use sqlx::AnyConnection;

/// One event of a movie's history, as the query side serves it: the wire's shape.
pub use moviedb_wire::schema::HistoryEvent as HistoryEntry;

/// The table, made once per database (see `schema::create_fixed_tables`). On SQLite it is
/// `WITHOUT ROWID`, one B-tree in the order it is read (a movie's events by version), with no
/// second copy of the key (53 MB at 1 000 000 movies); a table made before keeps its rowids.
/// On MySQL the text
/// columns are `VARCHAR`, not `TEXT`: sqlx's `Any` driver reads a `TEXT` column as bytes. A
/// movie event's payload is at most about 1.3 KB (the domain bounds every field).
pub(crate) fn create_table(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => {
            "CREATE TABLE IF NOT EXISTS rm_movie_history (movie_id TEXT NOT NULL, \
             version INTEGER NOT NULL, event_id TEXT NOT NULL, event_type TEXT NOT NULL, \
             schema_version INTEGER NOT NULL, recorded_at INTEGER NOT NULL, \
             payload TEXT NOT NULL, metadata TEXT NOT NULL, PRIMARY KEY (movie_id, version)) \
             WITHOUT ROWID"
        }
        Dialect::MySql => {
            "CREATE TABLE IF NOT EXISTS rm_movie_history (\
             movie_id CHAR(36) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL, \
             version BIGINT NOT NULL, event_id CHAR(36) NOT NULL, event_type VARCHAR(64) NOT NULL, \
             schema_version INT NOT NULL, recorded_at BIGINT NOT NULL, \
             payload VARCHAR(8000) NOT NULL, metadata VARCHAR(2000) NOT NULL, \
             PRIMARY KEY (movie_id, version)) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4"
        }
    }
}

/// The multi-row `INSERT` head that leaves rows already there as they are.
fn insert_head(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => {
            "INSERT OR IGNORE INTO rm_movie_history (movie_id, version, event_id, event_type, \
             schema_version, recorded_at, payload, metadata) VALUES "
        }
        Dialect::MySql => {
            "INSERT IGNORE INTO rm_movie_history (movie_id, version, event_id, event_type, \
             schema_version, recorded_at, payload, metadata) VALUES "
        }
    }
}

/// Whether `event` belongs in a movie's history.
pub(crate) fn is_movie_event(event: &StoredEvent) -> bool {
    event.stream_type == moviedb_domain::movie::Movie::STREAM_TYPE
}

/// The history rows of `events` as one multi-row `INSERT` that leaves rows already there as
/// they are (`None`: no movie event among them).
pub(crate) fn insert(dialect: Dialect, events: &[&StoredEvent]) -> Option<Insert> {
    let rows: Vec<Vec<Param>> = events
        .iter()
        .filter(|e| is_movie_event(e))
        .map(|e| {
            vec![
                Param::Text(e.stream_id.to_string()),
                Param::Int(sql_version(e.version)),
                Param::Text(e.event_id.to_string()),
                Param::Text(e.event_type.clone()),
                Param::Int(i64::from(e.schema_version)),
                Param::Int(micros(e.recorded_at)),
                Param::Text(e.payload.to_string()),
                Param::Text(e.metadata.to_string()),
            ]
        })
        .collect();
    (!rows.is_empty()).then(|| Insert {
        head: insert_head(dialect).to_owned(),
        rows,
    })
}

/// Writes the history rows of `events` (movie events only; others are passed over).
pub(crate) async fn write(
    conn: &mut AnyConnection,
    dialect: Dialect,
    events: &[&StoredEvent],
) -> Result<(), ReadModelError> {
    let inserts: Vec<Insert> = insert(dialect, events).into_iter().collect();
    write_inserts(conn, &inserts, None).await
}
