//! Rows as multi-row INSERTs: the rows of new streams, and statements of them that SQLite
//! keeps prepared.

use super::one::genres_json;
use super::{sql_version, worth_caching, VERSIONS_CHUNK};
use crate::query::Param;
use crate::schema::Tables;
use crate::ReadModelError;
use chrono::{DateTime, Utc};
use moviedb_domain::movie::MovieFields;
use moviedb_sql_kit::time::micros;
use sqlx::AnyConnection;

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

/// The multi-row `INSERT` heads of the tables a new stream writes, in `*_row`'s column order.
pub(crate) const MOVIES: &str = "INSERT INTO {movies} (name, name_key, director, director_key, \
    genres, imdb_score, popularity, version, updated_at, created_at, poster, movie_id) VALUES ";
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
    poster: Option<&str>,
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
        poster.map_or(Param::Null, |p| Param::Text(p.to_owned())),
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
                Param::Null => query.bind(None::<String>),
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
