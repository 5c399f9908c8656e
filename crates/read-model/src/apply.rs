//! Applying events to the read models, inside the caller's transaction.
//!
//! The rule of design.md: each stream's applied version is in `{versions}`; an event at or
//! below it is a duplicate, one above it applies, anything further is a gap.

use crate::schema::Tables;
use crate::{ApplyReport, ReadModelError};
use chrono::{DateTime, Utc};
use moviedb_domain::movie::{MovieEvent, MovieFields};
use moviedb_domain::user::UserEvent;
use moviedb_event_store::StoredEvent;
use sqlx::{AnyConnection, Row};
use uuid::Uuid;

pub(crate) fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

pub(crate) fn from_micros(micros: i64) -> Result<DateTime<Utc>, ReadModelError> {
    DateTime::from_timestamp_micros(micros)
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

/// Applies the events in order, each at most once.
pub(crate) async fn apply_events(
    conn: &mut AnyConnection,
    t: &Tables,
    events: &[StoredEvent],
) -> Result<ApplyReport, ReadModelError> {
    let mut report = ApplyReport::default();
    for event in events {
        let have = applied_version(conn, t, event.stream_id).await?;
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
        apply_one(conn, t, event).await?;
        set_version(conn, t, event, have).await?;
        report.applied += 1;
    }
    Ok(report)
}

fn rejected(event: &StoredEvent, reason: impl Into<String>) -> ReadModelError {
    ReadModelError::Rejected {
        event_id: event.event_id,
        reason: reason.into(),
    }
}

async fn apply_one(
    conn: &mut AnyConnection,
    t: &Tables,
    event: &StoredEvent,
) -> Result<(), ReadModelError> {
    match event.stream_type.as_str() {
        "movie" => {
            let decoded = event
                .decode::<MovieEvent>()
                .map_err(|e| rejected(event, e.to_string()))?;
            apply_movie(conn, t, event, decoded).await
        }
        "user" => {
            let decoded = event
                .decode::<UserEvent>()
                .map_err(|e| rejected(event, e.to_string()))?;
            apply_user(conn, t, event, decoded).await
        }
        other => Err(rejected(event, format!("unknown stream type `{other}`"))),
    }
}

async fn apply_movie(
    conn: &mut AnyConnection,
    t: &Tables,
    event: &StoredEvent,
    decoded: MovieEvent,
) -> Result<(), ReadModelError> {
    let id = event.stream_id.to_string();
    let at = micros(event.recorded_at);
    match decoded {
        MovieEvent::Added(fields) => {
            let insert = t.sql(
                "INSERT INTO {movies} (name, name_key, director, director_key, genres, imdb_score, \
                 popularity, version, updated_at, created_at, movie_id) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            );
            bind_row(sqlx::query(&insert), &fields, event.version, at)
                .bind(at)
                .bind(id.clone())
                .execute(&mut *conn)
                .await?;
            insert_genres(conn, t, &id, &fields.genres).await
        }
        MovieEvent::Updated(patch) => {
            let current = load_fields(conn, t, &id)
                .await?
                .ok_or_else(|| rejected(event, "an update of a movie the read model lacks"))?;
            let fields = patch.apply_to(current);
            let update = t.sql(
                "UPDATE {movies} SET name = ?, name_key = ?, director = ?, director_key = ?, \
                 genres = ?, imdb_score = ?, popularity = ?, version = ?, updated_at = ? \
                 WHERE movie_id = ?",
            );
            bind_row(sqlx::query(&update), &fields, event.version, at)
                .bind(id.clone())
                .execute(&mut *conn)
                .await?;
            if patch.genres.is_some() {
                delete_genres(conn, t, &id).await?;
                insert_genres(conn, t, &id, &fields.genres).await?;
            }
            Ok(())
        }
        MovieEvent::Deleted(_) => {
            delete_genres(conn, t, &id).await?;
            sqlx::query(&t.sql("DELETE FROM {movies} WHERE movie_id = ?"))
                .bind(id)
                .execute(&mut *conn)
                .await?;
            Ok(())
        }
    }
}

async fn apply_user(
    conn: &mut AnyConnection,
    t: &Tables,
    event: &StoredEvent,
    decoded: UserEvent,
) -> Result<(), ReadModelError> {
    let id = event.stream_id.to_string();
    match decoded {
        UserEvent::Registered(user) => {
            sqlx::query(&t.sql(
                "INSERT INTO {users} (name, email, role, registered_at, version, user_id) \
                 VALUES (?, ?, ?, ?, ?, ?)",
            ))
            .bind(user.name)
            .bind(user.email)
            .bind(user.role.as_str())
            .bind(micros(user.registered_at))
            .bind(sql_version(event.version))
            .bind(id)
            .execute(&mut *conn)
            .await?;
        }
        UserEvent::RoleChanged(change) => {
            sqlx::query(&t.sql("UPDATE {users} SET role = ?, version = ? WHERE user_id = ?"))
                .bind(change.role.as_str())
                .bind(sql_version(event.version))
                .bind(id)
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(())
}

/// Binds the columns INSERT and UPDATE share, in their order: `name, name_key, director,
/// director_key, genres, imdb_score, popularity, version, updated_at`.
fn bind_row<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    fields: &MovieFields,
    version: u64,
    at: i64,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    query
        .bind(fields.name.clone())
        .bind(fields.name.to_lowercase())
        .bind(fields.director.clone())
        .bind(fields.director.to_lowercase())
        .bind(genres_json(&fields.genres))
        .bind(fields.imdb_score)
        .bind(fields.popularity)
        .bind(sql_version(version))
        .bind(at)
}

pub(crate) fn genres_json(genres: &[String]) -> String {
    serde_json::to_string(genres).unwrap_or_else(|_| "[]".into())
}

async fn insert_genres(
    conn: &mut AnyConnection,
    t: &Tables,
    id: &str,
    genres: &[String],
) -> Result<(), ReadModelError> {
    // The domain de-duplicates genres case-insensitively, so the keys are distinct.
    for genre in genres {
        sqlx::query(&t.sql("INSERT INTO {genres} (genre_key, movie_id) VALUES (?, ?)"))
            .bind(genre.to_lowercase())
            .bind(id.to_owned())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

async fn delete_genres(
    conn: &mut AnyConnection,
    t: &Tables,
    id: &str,
) -> Result<(), ReadModelError> {
    sqlx::query(&t.sql("DELETE FROM {genres} WHERE movie_id = ?"))
        .bind(id.to_owned())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn load_fields(
    conn: &mut AnyConnection,
    t: &Tables,
    id: &str,
) -> Result<Option<MovieFields>, ReadModelError> {
    let row = sqlx::query(&t.sql(
        "SELECT name, director, genres, imdb_score, popularity FROM {movies} WHERE movie_id = ?",
    ))
    .bind(id.to_owned())
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|row| {
        Ok(MovieFields {
            name: row.try_get(0)?,
            director: row.try_get(1)?,
            genres: parse_genres(&row.try_get::<String, _>(2)?)?,
            imdb_score: row.try_get(3)?,
            popularity: row.try_get(4)?,
        })
    })
    .transpose()
}

pub(crate) fn parse_genres(json: &str) -> Result<Vec<String>, ReadModelError> {
    serde_json::from_str(json).map_err(|e| ReadModelError::Corrupt(format!("genres: {e}")))
}
