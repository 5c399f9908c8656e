//! The one read-model adapter: SQLite or MySQL through sqlx's `Any` driver.

use crate::apply::micros;
use crate::query::{driving_genre, filter_sql, order_by_sql, order_sql, Param, Plan, COUNT_BOUND};
use crate::schema::{Dialect, Tables, MOVIE_COUNT};
use crate::{HistoryEntry, MovieQuery, MovieView, Page, ReadModelError, ReadModels, UserView};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{AnyPool, Executor, Row};
use std::collections::HashMap;
use std::sync::{Arc, Once};
use uuid::Uuid;

/// Read models in a SQLite file or a MySQL database.
#[derive(Clone)]
pub struct SqlReadModels {
    pool: AnyPool,
    dialect: Dialect,
    tables: Tables,
    /// Movies read by id without sqlx, on SQLite's live tables.
    direct: Option<Arc<direct::DirectReads>>,
}

const MOVIE_COLUMNS: &str = "m.movie_id, m.name, m.director, m.genres, m.imdb_score, \
                             m.popularity, m.version, m.created_at, m.updated_at, m.poster";

static DRIVERS: Once = Once::new();

mod direct;
mod open;
mod rebuild;
mod rows;
mod write;
use rows::{movie_of, user_of, uuid_of, version_of};

/// The rows of a query whose only filter is its genres ([`Plan::ByGenre`]).
const BY_GENRE: &str = "{genres} g CROSS JOIN {movies} m ON m.movie_id = g.movie_id";

/// Streams written per round of multi-row `INSERT`s by `load`, and movies read per query by
/// `movies_by_id` (well under either database's limit on bound parameters).
const LOAD_CHUNK: usize = 500;

/// Raises the [`crate::NEWEST_APPLIED`] checkpoint to `recorded_at` (it never goes back: a
/// late event of another partition is older than what was applied before it).
async fn keep_newest(
    conn: &mut sqlx::AnyConnection,
    recorded_at: i64,
) -> Result<(), ReadModelError> {
    let now = micros(Utc::now());
    let updated = sqlx::query(
        "UPDATE projection_checkpoints SET position = CASE WHEN position < ? THEN ? ELSE position END, \
         updated_at = ? WHERE name = ?",
    )
    .bind(recorded_at)
    .bind(recorded_at)
    .bind(now)
    .bind(crate::NEWEST_APPLIED)
    .execute(&mut *conn)
    .await?;
    if updated.rows_affected() == 0 {
        sqlx::query(
            "INSERT INTO projection_checkpoints (position, updated_at, name) VALUES (?, ?, ?)",
        )
        .bind(recorded_at)
        .bind(now)
        .bind(crate::NEWEST_APPLIED)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// [`keep_newest`] as one MySQL statement of the program's own (numbers only), to go in the
/// same round trip as the batch's rows.
fn keep_newest_mysql(recorded_at: i64) -> String {
    format!(
        "INSERT INTO projection_checkpoints (position, updated_at, name) VALUES ({recorded_at}, \
         {now}, '{name}') ON DUPLICATE KEY UPDATE position = GREATEST(position, \
         {recorded_at}), updated_at = {now}",
        now = micros(Utc::now()),
        name = crate::NEWEST_APPLIED,
    )
}

#[async_trait]
impl ReadModels for SqlReadModels {
    async fn versions(&self, streams: &[Uuid]) -> Result<HashMap<Uuid, u64>, ReadModelError> {
        let mut versions = HashMap::new();
        for chunk in streams.chunks(500) {
            let rows = self
                .fetch_by_ids(
                    "SELECT stream_id, version FROM {versions} WHERE stream_id IN ",
                    chunk,
                )
                .await?;
            for row in rows {
                versions.insert(uuid_of(&row, 0)?, version_of(&row, 1)?);
            }
        }
        Ok(versions)
    }

    async fn checkpoint(&self, name: &str) -> Result<Option<i64>, ReadModelError> {
        let row = sqlx::query("SELECT position FROM projection_checkpoints WHERE name = ?")
            .bind(name.to_owned())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    async fn movie(&self, id: Uuid) -> Result<Option<MovieView>, ReadModelError> {
        if let Some(found) = self
            .direct
            .as_ref()
            .and_then(|direct| direct.movie(&self.tables.movies, id))
        {
            return found;
        }
        let sql = self.tables.sql(&format!(
            "SELECT {MOVIE_COLUMNS} FROM {{movies}} m WHERE m.movie_id = ?"
        ));
        let rows = self
            .fetch_all(&sql, vec![Param::Text(id.to_string())])
            .await?;
        rows.first().map(movie_of).transpose()
    }

    #[tracing::instrument(skip_all, err)]
    async fn movies(&self, query: &MovieQuery) -> Result<Page<MovieView>, ReadModelError> {
        let genres = &self.tables.genres;
        // Where a filtered query's rows come from: its genre's rows when genres are its only
        // filter, else the movies through whatever index the database picks.
        let (from, filter, params) = match driving_genre(query) {
            Some(_) => {
                let (filter, params) = filter_sql(query, genres, Plan::ByGenre);
                (BY_GENRE, filter, params)
            }
            None => {
                let (filter, params) = filter_sql(query, genres, Plan::Free);
                ("{movies} m", filter, params)
            }
        };
        let (total, total_exact) = if filter.is_empty() {
            let sql = format!("SELECT n FROM {{counts}} WHERE name = '{MOVIE_COUNT}'");
            (self.count(&self.tables.sql(&sql), vec![]).await?, true)
        } else {
            let sql = format!(
                "SELECT COUNT(*) FROM (SELECT 1 FROM {from}{filter} LIMIT {}) bounded",
                COUNT_BOUND + 1
            );
            let counted = self.count(&self.tables.sql(&sql), params.clone()).await?;
            (counted.min(COUNT_BOUND), counted <= COUNT_BOUND)
        };
        // A page of few matches (at most `COUNT_BOUND`) is found as the count found them, and
        // they are sorted; many are walked in the sort's index until the page is full.
        let (from, filter, params, by_index) = if filter.is_empty() || !total_exact {
            let (filter, params) = filter_sql(query, genres, Plan::WalkSort);
            ("{movies} m", filter, params, true)
        } else {
            (from, filter, params, false)
        };
        let (order, paging) = order_sql(query, by_index);
        // A deferred join: the page's ids come from an index alone (an OFFSET walks index
        // entries, not rows), then only those rows are read. `CROSS JOIN` keeps that order on
        // SQLite, whose planner otherwise chose at 1 000 000 movies to scan every movie and
        // look each up in the page (a quarter of a second per page); on MySQL it is an inner
        // join.
        let outer_order = order_by_sql(query, true);
        let sql = self.tables.sql(&format!(
            "SELECT {MOVIE_COLUMNS} FROM (SELECT m.movie_id FROM {from}{filter}{order}) page \
             CROSS JOIN {{movies}} m ON m.movie_id = page.movie_id{outer_order}"
        ));
        let rows = self
            .fetch_all(&sql, params.into_iter().chain(paging).collect())
            .await?;
        Ok(Page {
            items: rows.iter().map(movie_of).collect::<Result<_, _>>()?,
            total,
            total_exact,
        })
    }

    async fn user_role(&self, id: Uuid) -> Result<Option<moviedb_domain::Role>, ReadModelError> {
        let sql = self
            .tables
            .sql("SELECT role FROM {users} WHERE user_id = ?");
        let rows = self
            .fetch_all(&sql, vec![Param::Text(id.to_string())])
            .await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let role: String = row.try_get(0)?;
        match role.as_str() {
            "admin" => Ok(Some(moviedb_domain::Role::Admin)),
            "user" => Ok(Some(moviedb_domain::Role::User)),
            other => Err(ReadModelError::Corrupt(format!(
                "user {id} has role `{other}`"
            ))),
        }
    }

    async fn users(&self, page: u32, per_page: u32) -> Result<Page<UserView>, ReadModelError> {
        let total = self
            .count(&self.tables.sql("SELECT COUNT(*) FROM {users}"), vec![])
            .await?;
        let per_page = per_page.clamp(1, crate::MAX_PER_PAGE);
        let offset = u64::from(page.max(1) - 1) * u64::from(per_page);
        let rows = self
            .fetch_all(
                &self.tables.sql(
                    "SELECT user_id, name, email, role, registered_at, version FROM {users} \
                     ORDER BY registered_at ASC, user_id ASC LIMIT ? OFFSET ?",
                ),
                vec![
                    Param::Int(i64::from(per_page)),
                    Param::Int(i64::try_from(offset).unwrap_or(i64::MAX)),
                ],
            )
            .await?;
        Ok(Page {
            items: rows.iter().map(user_of).collect::<Result<_, _>>()?,
            total,
            total_exact: true,
        })
    }

    async fn movie_history(&self, id: Uuid) -> Result<Vec<HistoryEntry>, ReadModelError> {
        let rows = self
            .fetch_all(
                "SELECT event_id, version, event_type, schema_version, recorded_at, payload, \
                 metadata FROM rm_movie_history WHERE movie_id = ? ORDER BY version",
                vec![Param::Text(id.to_string())],
            )
            .await?;
        rows.iter()
            .map(|row| {
                let text = |i: usize| row.try_get::<String, _>(i);
                let json = |i: usize| -> Result<Value, ReadModelError> {
                    serde_json::from_str(&text(i)?)
                        .map_err(|e| ReadModelError::Corrupt(format!("history of {id}: {e}")))
                };
                Ok(HistoryEntry {
                    event_id: uuid_of(row, 0)?,
                    version: version_of(row, 1)?,
                    event_type: text(2)?,
                    schema_version: u32::try_from(row.try_get::<i64, _>(3)?).unwrap_or(0),
                    recorded_at: DateTime::from_timestamp_micros(row.try_get::<i64, _>(4)?)
                        .unwrap_or_default(),
                    payload: json(5)?,
                    metadata: json(6)?,
                })
            })
            .collect()
    }

    async fn dead_letter_count(&self) -> Result<u64, ReadModelError> {
        self.count("SELECT COUNT(*) FROM dead_letters", vec![])
            .await
    }

    async fn ping(&self) -> Result<(), ReadModelError> {
        self.pool.execute("SELECT 1").await?;
        Ok(())
    }
}

#[async_trait]
impl crate::EventLogHeads for SqlReadModels {
    async fn head(&self, stream: Uuid) -> Result<Option<u64>, ReadModelError> {
        // The event store's own table, in this database or its replica (see
        // `connect_existing_with_log`); its unique key (stream_id, version) answers this.
        let rows = self
            .fetch_all(
                "SELECT MAX(version) FROM events WHERE stream_id = ?",
                vec![Param::Text(stream.to_string())],
            )
            .await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let version: Option<i64> = row.try_get(0)?;
        version
            .map(|v| {
                u64::try_from(v)
                    .map_err(|_| ReadModelError::Corrupt(format!("stream {stream} at version {v}")))
            })
            .transpose()
    }
}
