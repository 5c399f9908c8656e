//! Applying events to the read models, inside the caller's transaction.
//!
//! The projection rule: each stream's applied version is in `{versions}`; an event at or
//! below it is a duplicate, one above it applies, anything further is a gap.

use crate::query::Param;
use crate::schema::Tables;
use crate::{ApplyReport, ReadModelError};
use chrono::{DateTime, Utc};
use moviedb_domain::movie::{Movie, MovieEvent};
use moviedb_domain::user::{User, UserEvent};
use moviedb_domain::Aggregate;
use moviedb_event_store::StoredEvent;
use sqlx::{AnyConnection, Row};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

mod inserts;
mod one;

pub(crate) use inserts::{
    genre_rows, movie_row, stream_inserts, user_row, version_row, write_inserts, Insert,
};
use one::apply_one;
pub(crate) use one::parse_genres;

pub(crate) use moviedb_sql_kit::time::micros;

/// The time a stored microsecond count names; out of range, the table is corrupt.
pub(crate) fn from_micros(micros: i64) -> Result<DateTime<Utc>, ReadModelError> {
    moviedb_sql_kit::time::from_micros(micros)
        .ok_or_else(|| ReadModelError::Corrupt(format!("timestamp {micros} out of range")))
}

pub(crate) fn sql_version(version: u64) -> i64 {
    i64::try_from(version).unwrap_or(i64::MAX)
}

/// The applied version of one stream (0 if none).
pub(crate) async fn applied_version(
    conn: &mut AnyConnection,
    t: &Tables,
    stream_id: Uuid,
) -> Result<u64, ReadModelError> {
    let row = sqlx::query(&t.sql("SELECT version FROM {versions} WHERE stream_id = ?"))
        .bind(stream_id.to_string())
        .fetch_optional(&mut *conn)
        .await?;
    Ok(match row {
        Some(row) => u64::try_from(row.try_get::<i64, _>(0)?).unwrap_or(0),
        None => 0,
    })
}

/// Records that `stream_id` is at `version`.
pub(crate) async fn set_version(
    conn: &mut AnyConnection,
    t: &Tables,
    event: &StoredEvent,
    previous: u64,
) -> Result<(), ReadModelError> {
    let sql = if previous == 0 {
        "INSERT INTO {versions} (version, stream_type, stream_id) VALUES (?, ?, ?)"
    } else {
        "UPDATE {versions} SET version = ?, stream_type = ? WHERE stream_id = ?"
    };
    sqlx::query(&t.sql(sql))
        .bind(sql_version(event.version))
        .bind(event.stream_type.clone())
        .bind(event.stream_id.to_string())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Streams whose applied versions are read per query.
const VERSIONS_CHUNK: usize = 500;

/// Whether a statement with `params` bound parameters is kept prepared on its connection
/// (sqlx keeps up to 100 per connection). Statements with many parameters are the multi-row
/// `INSERT`s and `IN` lists whose shape changes with the batch: each shape is rarely met
/// again, and on SQLite each one prepared for hundreds of rows held tens of KB per
/// connection (at 100 000 movies, 17 MB of the heap after mixed load, by heaptrack).
pub(crate) fn worth_caching(params: usize) -> bool {
    params <= 16
}

/// The applied versions of `streams` (absent: 0), read in a few queries.
async fn applied_versions(
    conn: &mut AnyConnection,
    t: &Tables,
    streams: &[Uuid],
) -> Result<HashMap<Uuid, u64>, ReadModelError> {
    let mut versions = HashMap::with_capacity(streams.len());
    for chunk in streams.chunks(VERSIONS_CHUNK) {
        let head = t.sql("SELECT stream_id, version FROM {versions} WHERE stream_id IN ");
        let rows = rows_by_ids(conn, &head, chunk).await?;
        for row in rows {
            let id: String = row.try_get(0)?;
            let id = Uuid::parse_str(&id)
                .map_err(|e| ReadModelError::Corrupt(format!("id `{id}`: {e}")))?;
            versions.insert(id, u64::try_from(row.try_get::<i64, _>(1)?).unwrap_or(0));
        }
    }
    Ok(versions)
}

/// The rows of `head` (a query ending in `IN `) for `ids`. On MySQL the ids go as literals in
/// a text query ([`crate::mysql_text::id_list`]); elsewhere they are bound, the statement kept
/// prepared only for short lists (see [`worth_caching`]).
pub(crate) async fn rows_by_ids(
    conn: &mut AnyConnection,
    head: &str,
    ids: &[Uuid],
) -> Result<Vec<sqlx::any::AnyRow>, ReadModelError> {
    #[cfg(feature = "mysql")]
    if conn.backend_name() == "MySQL" {
        let sql = crate::mysql_text::id_list(head, ids);
        return Ok(sqlx::Executor::fetch_all(&mut *conn, sql.as_str()).await?);
    }
    let sql = format!("{head}({})", vec!["?"; ids.len()].join(", "));
    let query = ids.iter().fold(
        sqlx::query(&sql).persistent(worth_caching(ids.len())),
        |q, id| q.bind(id.to_string()),
    );
    Ok(query.fetch_all(&mut *conn).await?)
}

/// Rows of new streams (a movie added, a user registered) waiting to be written together.
#[derive(Default)]
struct NewRows {
    /// Movie rows taken since the batch began, written or not.
    movies_taken: i64,
    streams: HashSet<Uuid>,
    movies: Vec<Vec<Param>>,
    genres: Vec<Vec<Param>>,
    users: Vec<Vec<Param>>,
    versions: Vec<Vec<Param>>,
}

impl NewRows {
    /// Takes `event` if it starts a stream with a row of its own; else leaves it to
    /// `apply_one`, which also rejects what does not decode.
    fn take(&mut self, event: &StoredEvent) -> bool {
        if event.version != 1 {
            return false;
        }
        let id = event.stream_id.to_string();
        let at = event.recorded_at;
        match event.stream_type.as_str() {
            Movie::STREAM_TYPE => match event.decode::<MovieEvent>() {
                Ok(MovieEvent::Added(fields)) => {
                    self.genres.extend(genre_rows(&id, &fields.genres));
                    self.movies.push(movie_row(&id, &fields, 1, at, at, None));
                    self.movies_taken += 1;
                }
                _ => return false,
            },
            User::STREAM_TYPE => match event.decode::<UserEvent>() {
                Ok(UserEvent::Registered(user)) => self.users.push(user_row(
                    &id,
                    &user.name,
                    &user.email,
                    user.role.as_str(),
                    user.registered_at,
                    1,
                )),
                _ => return false,
            },
            _ => return false,
        }
        self.versions.push(version_row(&id, &event.stream_type, 1));
        self.streams.insert(event.stream_id);
        true
    }

    /// What waits, as one multi-row `INSERT` per table.
    fn take_inserts(&mut self, t: &Tables) -> Vec<Insert> {
        self.streams.clear();
        stream_inserts(
            t,
            [
                std::mem::take(&mut self.movies),
                std::mem::take(&mut self.genres),
                std::mem::take(&mut self.users),
                std::mem::take(&mut self.versions),
            ],
        )
    }

    /// Writes what waits.
    async fn flush(&mut self, conn: &mut AnyConnection, t: &Tables) -> Result<(), ReadModelError> {
        write_inserts(conn, &self.take_inserts(t), None).await
    }
}

/// Applies the events in order, each at most once.
///
/// The applied versions of the batch's streams are read at once, and the rows of new streams
/// are written together in multi-row `INSERT`s: a batch of adds costs a handful of statements
/// instead of five per movie. Anything else (an update, a delete, a role change, an event that
/// does not decode) is applied on its own, in order, after the new rows it may depend on.
///
/// The new rows left at the end are not written: they are returned, for the caller to write
/// with the rest of its transaction ([`write_inserts`]), with how many movie rows the batch
/// adds in all (deletes count -1), for the caller to add to `{counts}` ([`count_movies`]).
pub(crate) async fn apply_events(
    conn: &mut AnyConnection,
    t: &Tables,
    events: &[StoredEvent],
) -> Result<(ApplyReport, Vec<Insert>, i64), ReadModelError> {
    let mut streams: Vec<Uuid> = events.iter().map(|e| e.stream_id).collect();
    streams.sort_unstable();
    streams.dedup();
    let mut applied = applied_versions(conn, t, &streams).await?;
    let mut report = ApplyReport::default();
    let mut new_rows = NewRows::default();
    let mut movies = 0;
    for event in events {
        let have = applied.get(&event.stream_id).copied().unwrap_or(0);
        if event.version <= have {
            report.skipped += 1;
            continue;
        }
        if event.version > have + 1 {
            return Err(ReadModelError::Gap {
                stream_id: event.stream_id,
                have,
                got: event.version,
            });
        }
        if !new_rows.take(event) {
            if new_rows.streams.contains(&event.stream_id) {
                new_rows.flush(conn, t).await?;
            }
            movies += apply_one(conn, t, event).await?;
            set_version(conn, t, event, have).await?;
        }
        applied.insert(event.stream_id, event.version);
        report.applied += 1;
    }
    movies += new_rows.movies_taken;
    Ok((report, new_rows.take_inserts(t), movies))
}

/// The statement that adds `delta` to the movie count of `t` (see `schema::MOVIE_COUNT`).
pub(crate) fn count_movies(t: &Tables, delta: i64) -> String {
    t.sql(&format!(
        "UPDATE {{counts}} SET n = n + ({delta}) WHERE name = '{}'",
        crate::schema::MOVIE_COUNT
    ))
}
