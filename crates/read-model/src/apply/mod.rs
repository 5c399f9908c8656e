//! Applying events to the read models, inside the caller's transaction.
//!
//! The projection rule: each stream's applied version is in `{versions}`; an event at or
//! below it is a duplicate, one above it applies, anything further is a gap.

use crate::query::Param;
use crate::schema::Tables;
use crate::{ApplyReport, ReadModelError};
use chrono::{DateTime, Utc};
use moviedb_domain::movie::{Movie, MovieEvent, MovieFields};
use moviedb_domain::user::{User, UserEvent};
use moviedb_domain::Aggregate;
use moviedb_event_store::StoredEvent;
use sqlx::{AnyConnection, Row};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

mod one;
pub(crate) use one::parse_genres;
use one::{apply_one, genres_json};

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
                    self.movies.push(movie_row(&id, &fields, 1, at, at));
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

/// The `INSERT`s of new streams' rows: `[movies, genres, users, versions]`, in `*_row`'s
/// column orders, into `t`'s tables (empty tables left out).
pub(crate) fn stream_inserts(t: &Tables, rows: [Vec<Vec<Param>>; 4]) -> Vec<Insert> {
    [MOVIES, GENRES, USERS, VERSIONS]
        .into_iter()
        .zip(rows)
        .filter(|(_, rows)| !rows.is_empty())
        .map(|(head, rows)| Insert {
            head: t.sql(head),
            rows,
        })
        .collect()
}

/// A multi-row `INSERT`: its head (up to `VALUES `) and its rows.
pub(crate) struct Insert {
    pub head: String,
    pub rows: Vec<Vec<Param>>,
}

/// Writes `inserts` in order, then (MySQL only) the statement `then`.
///
/// On MySQL they go as plain text, values written in as literals, in one round trip per few
/// MB ([`crate::mysql_text`]): under a load of adds each projector batch wrote four or five
/// multi-row statements, each of a row count met once, so each was prepared, executed and
/// closed, and those were most of the server's statements. On SQLite each goes through
/// [`insert_rows`], in prepared shapes.
pub(crate) async fn write_inserts(
    conn: &mut AnyConnection,
    inserts: &[Insert],
    then: Option<&str>,
) -> Result<(), ReadModelError> {
    #[cfg(feature = "mysql")]
    if conn.backend_name() == "MySQL" {
        let texts = crate::mysql_text::texts(
            inserts.iter().map(|i| (i.head.as_str(), i.rows.as_slice())),
            then,
        )?;
        return crate::mysql_text::send(conn, texts).await;
    }
    debug_assert!(then.is_none(), "a MySQL statement on another database");
    for insert in inserts {
        for chunk in insert.rows.chunks(VERSIONS_CHUNK) {
            insert_rows(conn, &insert.head, chunk).await?;
        }
    }
    Ok(())
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

/// The multi-row `INSERT` heads of the tables a new stream writes, in `*_row`'s column order.
pub(crate) const MOVIES: &str = "INSERT INTO {movies} (name, name_key, director, director_key, \
    genres, imdb_score, popularity, version, updated_at, created_at, movie_id) VALUES ";
pub(crate) const GENRES: &str = "INSERT INTO {genres} (genre_key, movie_id) VALUES ";
pub(crate) const USERS: &str =
    "INSERT INTO {users} (name, email, role, registered_at, version, user_id) VALUES ";
pub(crate) const VERSIONS: &str =
    "INSERT INTO {versions} (version, stream_type, stream_id) VALUES ";

/// A `{movies}` row, in [`MOVIES`]' order.
pub(crate) fn movie_row(
    id: &str,
    fields: &MovieFields,
    version: u64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
) -> Vec<Param> {
    vec![
        Param::Text(fields.name.clone()),
        Param::Text(fields.name.to_lowercase()),
        Param::Text(fields.director.clone()),
        Param::Text(fields.director.to_lowercase()),
        Param::Text(genres_json(&fields.genres)),
        Param::Real(fields.imdb_score),
        Param::Real(fields.popularity),
        Param::Int(sql_version(version)),
        Param::Int(micros(updated_at)),
        Param::Int(micros(created_at)),
        Param::Text(id.to_owned()),
    ]
}

/// The `{genres}` rows of a movie (the domain de-duplicates genres case-insensitively).
pub(crate) fn genre_rows<'a>(
    id: &'a str,
    genres: &'a [String],
) -> impl Iterator<Item = Vec<Param>> + 'a {
    genres
        .iter()
        .map(move |g| vec![Param::Text(g.to_lowercase()), Param::Text(id.to_owned())])
}

/// A `{users}` row, in [`USERS`]' order.
pub(crate) fn user_row(
    id: &str,
    name: &str,
    email: &str,
    role: &str,
    registered_at: DateTime<Utc>,
    version: u64,
) -> Vec<Param> {
    vec![
        Param::Text(name.to_owned()),
        Param::Text(email.to_owned()),
        Param::Text(role.to_owned()),
        Param::Int(micros(registered_at)),
        Param::Int(sql_version(version)),
        Param::Text(id.to_owned()),
    ]
}

/// A `{versions}` row, in [`VERSIONS`]' order.
pub(crate) fn version_row(id: &str, stream_type: &str, version: u64) -> Vec<Param> {
    vec![
        Param::Int(sql_version(version)),
        Param::Text(stream_type.to_owned()),
        Param::Text(id.to_owned()),
    ]
}

/// The most rows [`insert_rows`] splits into prepared shapes on SQLite.
const SQLITE_ROWS: usize = 64;

/// Multi-row `INSERT`s: `head` (up to `VALUES `) and a row of placeholders per row.
///
/// On SQLite, up to [`SQLITE_ROWS`] rows go in statements of a power of two rows each,
/// largest first (37 rows: 32, 4 and 1), each kept prepared on its connection. Statements of
/// any other count were compiled for one use: under a load of adds, whose batches are that
/// small, `sqlite3_prepare` was an eighth of the read-model thread's time. The few shapes bound
/// what the cache holds (see [`worth_caching`]). More rows (a rebuild's) go in one statement:
/// each statement is a round trip to sqlx's SQLite thread, and in 64-row pieces a rebuild of
/// 1 000 000 events was a fifth slower. [`write_inserts`] calls it, except on MySQL.
async fn insert_rows(
    conn: &mut AnyConnection,
    head: &str,
    rows: &[Vec<Param>],
) -> Result<(), ReadModelError> {
    if conn.backend_name() != "SQLite" || rows.len() > SQLITE_ROWS {
        let cached = worth_caching(rows.first().map_or(0, Vec::len) * rows.len());
        return insert_statement(conn, head, rows, cached).await;
    }
    let mut rest = rows;
    while !rest.is_empty() {
        let (now, later) = rest.split_at(power_of_two_at_most(rest.len()));
        insert_statement(conn, head, now, true).await?;
        rest = later;
    }
    Ok(())
}

/// The largest power of two not above `n` (at least 1).
fn power_of_two_at_most(n: usize) -> usize {
    1 << n.max(1).ilog2()
}

/// One multi-row `INSERT` of `rows`.
async fn insert_statement(
    conn: &mut AnyConnection,
    head: &str,
    rows: &[Vec<Param>],
    cached: bool,
) -> Result<(), ReadModelError> {
    let Some(width) = rows.first().map(Vec::len) else {
        return Ok(());
    };
    let marks = format!("({})", vec!["?"; width].join(", "));
    let sql = format!("{head}{}", vec![marks.as_str(); rows.len()].join(", "));
    rows.iter()
        .flatten()
        .fold(
            sqlx::query(&sql).persistent(cached),
            |query, param| match param {
                Param::Text(v) => query.bind(v.clone()),
                Param::Real(v) => query.bind(*v),
                Param::Int(v) => query.bind(*v),
            },
        )
        .execute(&mut *conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_largest_power_of_two_not_above() {
        let got: Vec<usize> = [0, 1, 2, 3, 37, 63, 64, 65]
            .map(power_of_two_at_most)
            .to_vec();
        assert_eq!(got, [1, 1, 2, 2, 32, 32, 64, 64]);
    }
}
