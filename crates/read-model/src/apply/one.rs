//! One event applied to the read models: a movie's or a user's row, its genres.

use super::sql_version;
use crate::schema::Tables;
use crate::ReadModelError;
use moviedb_domain::movie::{Movie, MovieEvent, MovieFields};
use moviedb_domain::user::{User, UserEvent};
use moviedb_domain::Aggregate;
use moviedb_event_store::StoredEvent;
use moviedb_sql_kit::time::micros;
use sqlx::{AnyConnection, Row};

pub(super) fn rejected(event: &StoredEvent, reason: impl Into<String>) -> ReadModelError {
    ReadModelError::Rejected {
        event_id: event.event_id,
        reason: reason.into(),
    }
}

/// Applies `event`; the answer is how many movie rows it added (-1 for a delete).
pub(super) async fn apply_one(
    conn: &mut AnyConnection,
    t: &Tables,
    event: &StoredEvent,
) -> Result<i64, ReadModelError> {
    match event.stream_type.as_str() {
        Movie::STREAM_TYPE => {
            let decoded = event
                .decode::<MovieEvent>()
                .map_err(|e| rejected(event, e.to_string()))?;
            apply_movie(conn, t, event, decoded).await
        }
        User::STREAM_TYPE => {
            let decoded = event
                .decode::<UserEvent>()
                .map_err(|e| rejected(event, e.to_string()))?;
            apply_user(conn, t, event, decoded).await.map(|()| 0)
        }
        other => Err(rejected(event, format!("unknown stream type `{other}`"))),
    }
}

pub(super) async fn apply_movie(
    conn: &mut AnyConnection,
    t: &Tables,
    event: &StoredEvent,
    decoded: MovieEvent,
) -> Result<i64, ReadModelError> {
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
            insert_genres(conn, t, &id, &fields.genres).await?;
            Ok(1)
        }
        MovieEvent::Updated(patch) => {
            let current = load_fields(conn, t, &id)
                .await?
                .ok_or_else(|| rejected(event, "an update of a movie the read model lacks"))?;
            let current_genres = current.genres.clone();
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
                delete_genres(conn, t, &id, &current_genres).await?;
                insert_genres(conn, t, &id, &fields.genres).await?;
            }
            Ok(0)
        }
        MovieEvent::PosterSet(poster) => {
            set_poster(conn, t, event, Some(poster.path()), at).await?;
            Ok(0)
        }
        MovieEvent::PosterRemoved(_) => {
            set_poster(conn, t, event, None, at).await?;
            Ok(0)
        }
        MovieEvent::Deleted(_) => {
            if let Some(current) = load_fields(conn, t, &id).await? {
                delete_genres(conn, t, &id, &current.genres).await?;
            }
            let deleted = sqlx::query(&t.sql("DELETE FROM {movies} WHERE movie_id = ?"))
                .bind(id)
                .execute(&mut *conn)
                .await?;
            Ok(-i64::try_from(deleted.rows_affected()).unwrap_or(0))
        }
    }
}

/// A movie's poster path (`None`: no poster), as of `event`.
async fn set_poster(
    conn: &mut AnyConnection,
    t: &Tables,
    event: &StoredEvent,
    path: Option<String>,
    at: i64,
) -> Result<(), ReadModelError> {
    let updated = sqlx::query(
        &t.sql("UPDATE {movies} SET poster = ?, version = ?, updated_at = ? WHERE movie_id = ?"),
    )
    .bind(path)
    .bind(sql_version(event.version))
    .bind(at)
    .bind(event.stream_id.to_string())
    .execute(&mut *conn)
    .await?;
    if updated.rows_affected() == 0 {
        return Err(rejected(event, "a poster of a movie the read model lacks"));
    }
    Ok(())
}

pub(super) async fn apply_user(
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
pub(super) fn bind_row<'q>(
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

pub(super) async fn insert_genres(
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

/// Deletes the genre rows of movie `id`, whose row lists `genres`: each by the table's key
/// (genre, movie), so the table needs no second index by movie (at 1 000 000 movies that
/// index was 100 MB).
pub(super) async fn delete_genres(
    conn: &mut AnyConnection,
    t: &Tables,
    id: &str,
    genres: &[String],
) -> Result<(), ReadModelError> {
    for genre in genres {
        sqlx::query(&t.sql("DELETE FROM {genres} WHERE genre_key = ? AND movie_id = ?"))
            .bind(genre.to_lowercase())
            .bind(id.to_owned())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

pub(super) async fn load_fields(
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
