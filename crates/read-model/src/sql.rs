//! The one read-model adapter: SQLite or MySQL through sqlx's `Any` driver.

use crate::apply::{
    apply_events, from_micros, genre_rows, insert_rows, micros, movie_row, parse_genres,
    set_version, user_row, version_row, GENRES, MOVIES, USERS, VERSIONS,
};
use crate::query::{filter_sql, order_by_sql, order_sql, Param};
use crate::schema::{create_fixed_tables, create_tables, Dialect, Tables, SHADOW};
use crate::{
    ApplyReport, Checkpoint, FoldedState, FoldedStream, HistoryEntry, MovieQuery, MovieView, Page,
    ReadModelError, ReadModels, UserView,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use moviedb_event_store::StoredEvent;
use serde_json::{json, Value};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::MigrateDatabase;
use sqlx::{Any, AnyPool, Executor, Row};
use std::collections::HashMap;
use std::sync::{Arc, Once};
use std::time::Duration;
use uuid::Uuid;

/// Read models in a SQLite file or a MySQL database.
#[derive(Clone)]
pub struct SqlReadModels {
    pool: AnyPool,
    dialect: Dialect,
    tables: Tables,
}

const MOVIE_COLUMNS: &str = "m.movie_id, m.name, m.director, m.genres, m.imdb_score, \
                             m.popularity, m.version, m.created_at, m.updated_at";

static DRIVERS: Once = Once::new();

impl SqlReadModels {
    /// Connects to `url` (`sqlite://...` or `mysql://...`), creating the database and the
    /// live tables if missing.
    pub async fn connect(url: &str) -> Result<Self, ReadModelError> {
        Self::connect_as(url, true).await
    }

    /// As [`SqlReadModels::connect`], for a process that only reads (see
    /// [`crate::connect_existing`]): nothing is created; missing tables are waited for.
    pub async fn connect_existing(url: &str) -> Result<Self, ReadModelError> {
        Self::connect_as(url, false).await
    }

    async fn connect_as(url: &str, create: bool) -> Result<Self, ReadModelError> {
        DRIVERS.call_once(sqlx::any::install_default_drivers);
        let (dialect, url) = if url.starts_with("sqlite:") {
            (Dialect::Sqlite, url.to_owned())
        } else if url.starts_with("mysql:") || url.starts_with("mariadb:") {
            (Dialect::MySql, url.replacen("mariadb:", "mysql:", 1))
        } else {
            return Err(ReadModelError::Config(format!(
                "unsupported read-model URL scheme in `{}`: use sqlite:// or mysql://",
                moviedb_event_store::redact_url(url)
            )));
        };
        if dialect == Dialect::Sqlite && create && !Any::database_exists(&url).await? {
            Any::create_database(&url).await?;
        }
        moviedb_event_store::setup::retry_start(
            "the read models",
            ReadModelError::is_transient,
            || async {
                if create {
                    return Self::make(dialect, &url).await;
                }
                match Self::open(dialect, &url, false).await {
                    // Nobody made them yet: made here if this user may (the usual deployment,
                    // whatever the start order), else waited for (a read-only replica user:
                    // the projector makes them on the primary).
                    Err(e) if not_made(&e) => Self::make(dialect, &url).await.map_err(|e| {
                        if denied(&e) {
                            ReadModelError::Unavailable(format!(
                                "the read models are not made yet and this user may not make \
                                 them (a read replica?): waiting for the projector ({e})"
                            ))
                        } else {
                            e
                        }
                    }),
                    other => other,
                }
            },
        )
        .await
    }

    /// Makes the database (MySQL) and the missing tables, then connects.
    async fn make(dialect: Dialect, url: &str) -> Result<Self, ReadModelError> {
        if dialect == Dialect::MySql {
            moviedb_event_store::setup::ensure_database(url)
                .await
                .map_err(|e| match e {
                    e if e.is_transient() => ReadModelError::Unavailable(e.to_string()),
                    e => ReadModelError::Database(e.to_string()),
                })?;
        }
        Self::open(dialect, url, true).await
    }

    /// Connects to an existing database and makes the tables that are missing (`create`), or
    /// finds them made.
    async fn open(dialect: Dialect, url: &str, create: bool) -> Result<Self, ReadModelError> {
        let options = moviedb_event_store::ping_when_idle(AnyPoolOptions::new())
            .max_connections(if dialect == Dialect::Sqlite { 4 } else { 16 })
            // Fail fast when the database is down (a 503), rather than hang the request.
            .acquire_timeout(Duration::from_secs(3));
        let options = match dialect {
            Dialect::Sqlite => options.after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute(
                        "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000; \
                                  PRAGMA synchronous = NORMAL",
                    )
                    .await?;
                    Ok(())
                })
            }),
            Dialect::MySql => options.after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("SET time_zone = '+00:00'").await?;
                    Ok(())
                })
            }),
        };
        let pool = options.connect(url).await?;
        let models = Self {
            pool,
            dialect,
            tables: Tables::with_suffix(""),
        };
        if !create {
            for table in [
                models.tables.versions.as_str(),
                "projection_checkpoints",
                "rm_movie_history",
            ] {
                if !models.exists(table).await? {
                    return Err(ReadModelError::Unavailable(format!(
                        "{NOT_MADE} (no table {table})"
                    )));
                }
            }
            return Ok(models);
        }
        // On MySQL, DDL is not transactional: processes starting together create the tables
        // one after the other, under the schema lock (SQLite's DDL is).
        let lock = match dialect {
            Dialect::MySql => Some(
                moviedb_event_store::setup::SchemaLock::acquire(url)
                    .await
                    .map_err(|e| ReadModelError::Unavailable(e.to_string()))?,
            ),
            Dialect::Sqlite => None,
        };
        for statement in create_fixed_tables(dialect) {
            models.pool.execute(statement).await?;
        }
        if !models.exists(&models.tables.versions).await? {
            models.create(&models.tables).await?;
        }
        if let Some(lock) = lock {
            lock.release()
                .await
                .map_err(|e| ReadModelError::Unavailable(e.to_string()))?;
        }
        Ok(models)
    }

    async fn exists(&self, table: &str) -> Result<bool, ReadModelError> {
        // A probe that fails only when the table is missing.
        match self
            .pool
            .fetch_optional(format!("SELECT 1 FROM {table} WHERE 1 = 0").as_str())
            .await
        {
            Ok(_) => Ok(true),
            Err(sqlx::Error::Database(e))
                if e.message().contains("no such table")
                    || e.message().contains("doesn't exist") =>
            {
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn create(&self, tables: &Tables) -> Result<(), ReadModelError> {
        let gen = Uuid::now_v7().simple().to_string();
        let mut tx = self.pool.begin().await?;
        for statement in create_tables(self.dialect, tables, &gen) {
            match tx.execute(statement.as_str()).await {
                Ok(_) => {}
                // Made by a start that stopped half-way (MySQL's DDL is not transactional):
                // the tables after it are still made.
                Err(sqlx::Error::Database(e)) if e.message().contains("already exists") => {}
                Err(e) => return Err(e.into()),
            }
        }
        tx.commit().await?;
        Ok(())
    }

    fn shadow_tables(&self) -> Tables {
        Tables::with_suffix(SHADOW)
    }

    async fn fetch_all(
        &self,
        sql: &str,
        params: Vec<Param>,
    ) -> Result<Vec<AnyRow>, ReadModelError> {
        Ok(bound(sql, params).fetch_all(&self.pool).await?)
    }

    async fn count(&self, sql: &str, params: Vec<Param>) -> Result<u64, ReadModelError> {
        let rows = self.fetch_all(sql, params).await?;
        let n: i64 = match rows.first() {
            Some(row) => row.try_get(0)?,
            None => 0,
        };
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

const NOT_MADE: &str = "the read models are not made yet";

/// Whether opening failed because the database or the tables do not exist yet.
fn not_made(error: &ReadModelError) -> bool {
    let text = error.to_string();
    text.contains(NOT_MADE) || text.contains("Unknown database")
}

/// Whether making failed because this user may not write (or the server is read-only).
fn denied(error: &ReadModelError) -> bool {
    let text = error.to_string().to_lowercase();
    text.contains("denied") || text.contains("read-only") || text.contains("read only")
}

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

/// Streams written per round of multi-row `INSERT`s by `load`, and movies read per query by
/// `movies_by_id` (well under either database's limit on bound parameters).
const LOAD_CHUNK: usize = 500;

/// `sql` with `params` bound to its `?`s, in order.
fn bound(
    sql: &str,
    params: Vec<Param>,
) -> sqlx::query::Query<'_, Any, sqlx::any::AnyArguments<'_>> {
    let cached = crate::apply::worth_caching(params.len());
    params.into_iter().fold(
        sqlx::query(sql).persistent(cached),
        |query, param| match param {
            Param::Text(v) => query.bind(v),
            Param::Real(v) => query.bind(v),
            Param::Int(v) => query.bind(v),
        },
    )
}

fn version_of(row: &AnyRow, index: usize) -> Result<u64, ReadModelError> {
    let v: i64 = row.try_get(index)?;
    u64::try_from(v).map_err(|_| ReadModelError::Corrupt(format!("negative version {v}")))
}

fn uuid_of(row: &AnyRow, index: usize) -> Result<Uuid, ReadModelError> {
    let text: String = row.try_get(index)?;
    Uuid::parse_str(&text).map_err(|e| ReadModelError::Corrupt(format!("id `{text}`: {e}")))
}

fn movie_of(row: &AnyRow) -> Result<MovieView, ReadModelError> {
    Ok(MovieView {
        id: uuid_of(row, 0)?,
        name: row.try_get(1)?,
        director: row.try_get(2)?,
        genres: parse_genres(&row.try_get::<String, _>(3)?)?,
        imdb_score: row.try_get(4)?,
        popularity: row.try_get(5)?,
        version: version_of(row, 6)?,
        created_at: from_micros(row.try_get(7)?)?,
        updated_at: from_micros(row.try_get(8)?)?,
    })
}

fn user_of(row: &AnyRow) -> Result<UserView, ReadModelError> {
    Ok(UserView {
        id: uuid_of(row, 0)?,
        name: row.try_get(1)?,
        email: row.try_get(2)?,
        role: row.try_get(3)?,
        registered_at: from_micros(row.try_get(4)?)?,
        version: version_of(row, 5)?,
    })
}

#[async_trait]
impl ReadModels for SqlReadModels {
    #[tracing::instrument(skip_all, fields(events = events.len()), err)]
    async fn apply(
        &self,
        events: &[StoredEvent],
        checkpoint: Option<&Checkpoint>,
    ) -> Result<ApplyReport, ReadModelError> {
        let mut tx = self.pool.begin().await?;
        let report = apply_events(&mut tx, &self.tables, events).await?;
        // Every movie event of the batch, duplicates left as they are.
        let all: Vec<&StoredEvent> = events.iter().collect();
        crate::history::write(&mut tx, self.dialect, &all).await?;
        if report.applied > 0 {
            let newest = events.iter().map(|e| micros(e.recorded_at)).max();
            keep_newest(&mut tx, newest.unwrap_or(0)).await?;
        }
        if let Some(checkpoint) = checkpoint {
            let now = micros(Utc::now());
            let updated = sqlx::query(
                "UPDATE projection_checkpoints SET position = ?, updated_at = ? WHERE name = ?",
            )
            .bind(checkpoint.position)
            .bind(now)
            .bind(checkpoint.name.clone())
            .execute(&mut *tx)
            .await?;
            if updated.rows_affected() == 0 {
                sqlx::query(
                    "INSERT INTO projection_checkpoints (position, updated_at, name) VALUES (?, ?, ?)",
                )
                .bind(checkpoint.position)
                .bind(now)
                .bind(checkpoint.name.clone())
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(report)
    }

    async fn versions(&self, streams: &[Uuid]) -> Result<HashMap<Uuid, u64>, ReadModelError> {
        let mut versions = HashMap::new();
        for chunk in streams.chunks(500) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let sql = self.tables.sql(&format!(
                "SELECT stream_id, version FROM {{versions}} WHERE stream_id IN ({marks})"
            ));
            let params = chunk.iter().map(|id| Param::Text(id.to_string())).collect();
            for row in self.fetch_all(&sql, params).await? {
                versions.insert(uuid_of(&row, 0)?, version_of(&row, 1)?);
            }
        }
        Ok(versions)
    }

    async fn stream_versions(
        &self,
        stream_type: &str,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<(Uuid, u64)>, ReadModelError> {
        let sql = self.tables.sql(
            "SELECT stream_id, version FROM {versions} WHERE stream_type = ? AND stream_id > ? \
             ORDER BY stream_id LIMIT ?",
        );
        let params = vec![
            Param::Text(stream_type.to_owned()),
            Param::Text(after.map(|id| id.to_string()).unwrap_or_default()),
            Param::Int(i64::from(limit)),
        ];
        self.fetch_all(&sql, params)
            .await?
            .iter()
            .map(|row| Ok((uuid_of(row, 0)?, version_of(row, 1)?)))
            .collect()
    }

    async fn checkpoint(&self, name: &str) -> Result<Option<i64>, ReadModelError> {
        let row = sqlx::query("SELECT position FROM projection_checkpoints WHERE name = ?")
            .bind(name.to_owned())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    async fn movie(&self, id: Uuid) -> Result<Option<MovieView>, ReadModelError> {
        let sql = self.tables.sql(&format!(
            "SELECT {MOVIE_COLUMNS} FROM {{movies}} m WHERE m.movie_id = ?"
        ));
        let rows = self
            .fetch_all(&sql, vec![Param::Text(id.to_string())])
            .await?;
        rows.first().map(movie_of).transpose()
    }

    async fn movies_by_id(&self, ids: &[Uuid]) -> Result<Vec<MovieView>, ReadModelError> {
        let mut found = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(LOAD_CHUNK) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let sql = self.tables.sql(&format!(
                "SELECT {MOVIE_COLUMNS} FROM {{movies}} m WHERE m.movie_id IN ({marks})"
            ));
            let params = chunk.iter().map(|id| Param::Text(id.to_string())).collect();
            for row in self.fetch_all(&sql, params).await? {
                found.push(movie_of(&row)?);
            }
        }
        Ok(found)
    }

    #[tracing::instrument(skip_all, err)]
    async fn movies(&self, query: &MovieQuery) -> Result<Page<MovieView>, ReadModelError> {
        let (filter, params) = filter_sql(query, &self.tables.genres);
        let total = self
            .count(
                &self
                    .tables
                    .sql(&format!("SELECT COUNT(*) FROM {{movies}} m{filter}")),
                params.clone(),
            )
            .await?;
        let (order, paging) = order_sql(query);
        // A deferred join: the page's ids come from the sort's index alone (an OFFSET walks
        // index entries, not rows), then only those rows are read.
        let outer_order = order_by_sql(query);
        let sql = self.tables.sql(&format!(
            "SELECT {MOVIE_COLUMNS} FROM {{movies}} m JOIN (SELECT m.movie_id FROM {{movies}} m\
             {filter}{order}) page ON page.movie_id = m.movie_id{outer_order}"
        ));
        let rows = self
            .fetch_all(&sql, params.into_iter().chain(paging).collect())
            .await?;
        Ok(Page {
            items: rows.iter().map(movie_of).collect::<Result<_, _>>()?,
            total,
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
        })
    }

    async fn dead_letter(&self, event: &StoredEvent, error: &str) -> Result<(), ReadModelError> {
        let mut tx = self.pool.begin().await?;
        let have = crate::apply::applied_version(&mut tx, &self.tables, event.stream_id).await?;
        sqlx::query(
            "INSERT INTO dead_letters (event_id, stream_id, version, event_type, error, event, \
             failed_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(event.event_id.to_string())
        .bind(event.stream_id.to_string())
        .bind(i64::try_from(event.version).unwrap_or(i64::MAX))
        .bind(event.event_type.clone())
        .bind(error.chars().take(2000).collect::<String>())
        .bind(serde_json::to_string(event).unwrap_or_default())
        .bind(micros(Utc::now()))
        .execute(&mut *tx)
        .await?;
        if event.version > have {
            set_version(&mut tx, &self.tables, event, have).await?;
        }
        // It stays part of the movie's history, which shows what was stored.
        crate::history::write(&mut tx, self.dialect, &[event]).await?;
        tx.commit().await?;
        Ok(())
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

    async fn history_heads(&self) -> Result<HashMap<Uuid, u64>, ReadModelError> {
        let rows = self
            .fetch_all(
                "SELECT movie_id, MAX(version) FROM rm_movie_history GROUP BY movie_id",
                vec![],
            )
            .await?;
        rows.iter()
            .map(|row| Ok((uuid_of(row, 0)?, version_of(row, 1)?)))
            .collect()
    }

    async fn record_history(&self, events: &[&StoredEvent]) -> Result<(), ReadModelError> {
        let mut conn = self.pool.acquire().await?;
        crate::history::write(&mut conn, self.dialect, events).await
    }

    async fn dead_letter_count(&self) -> Result<u64, ReadModelError> {
        self.count("SELECT COUNT(*) FROM dead_letters", vec![])
            .await
    }

    async fn dump(&self) -> Result<Value, ReadModelError> {
        let t = &self.tables;
        let movies = self
            .fetch_all(
                &t.sql(&format!(
                    "SELECT {MOVIE_COLUMNS} FROM {{movies}} m ORDER BY m.movie_id"
                )),
                vec![],
            )
            .await?;
        let genres = self
            .fetch_all(
                &t.sql("SELECT movie_id, genre_key FROM {genres} ORDER BY movie_id, genre_key"),
                vec![],
            )
            .await?;
        let users = self
            .fetch_all(
                &t.sql(
                    "SELECT user_id, name, email, role, registered_at, version FROM {users} \
                     ORDER BY user_id",
                ),
                vec![],
            )
            .await?;
        let versions = self
            .fetch_all(
                &t.sql("SELECT stream_id, stream_type, version FROM {versions} ORDER BY stream_id"),
                vec![],
            )
            .await?;
        Ok(json!({
            "movies": movies.iter().map(|r| movie_of(r).map(|m| m.to_json())).collect::<Result<Vec<_>, _>>()?,
            "genres": genres.iter().map(|r| Ok(json!([r.try_get::<String, _>(0)?, r.try_get::<String, _>(1)?]))).collect::<Result<Vec<_>, ReadModelError>>()?,
            "users": users.iter().map(|r| user_of(r).map(|u| u.to_json())).collect::<Result<Vec<_>, _>>()?,
            "versions": versions.iter().map(|r| Ok(json!([r.try_get::<String, _>(0)?, r.try_get::<String, _>(1)?, version_of(r, 2)?]))).collect::<Result<Vec<_>, ReadModelError>>()?,
        }))
    }

    #[tracing::instrument(skip_all, fields(streams = streams.len()), err)]
    async fn load(&self, streams: &[FoldedStream]) -> Result<(), ReadModelError> {
        let t = &self.tables;
        let mut tx = self.pool.begin().await?;
        for chunk in streams.chunks(LOAD_CHUNK) {
            let mut movies = Vec::new();
            let mut genres = Vec::new();
            let mut users = Vec::new();
            let mut versions = Vec::with_capacity(chunk.len());
            for stream in chunk {
                let id = stream.id.to_string();
                match &stream.state {
                    FoldedState::Movie {
                        fields: Some(fields),
                        created_at,
                        updated_at,
                    } => {
                        genres.extend(genre_rows(&id, &fields.genres));
                        movies.push(movie_row(
                            &id,
                            fields,
                            stream.version,
                            *created_at,
                            *updated_at,
                        ));
                    }
                    FoldedState::User {
                        name,
                        email,
                        role,
                        registered_at,
                    } => users.push(user_row(
                        &id,
                        name,
                        email,
                        role,
                        *registered_at,
                        stream.version,
                    )),
                    FoldedState::Movie { fields: None, .. } | FoldedState::Nothing => {}
                }
                versions.push(version_row(&id, &stream.stream_type, stream.version));
            }
            for (head, rows) in [
                (MOVIES, movies),
                (GENRES, genres),
                (USERS, users),
                (VERSIONS, versions),
            ] {
                insert_rows(&mut tx, &t.sql(head), &rows).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn begin_rebuild(&self) -> Result<Arc<dyn ReadModels>, ReadModelError> {
        let shadow = self.shadow_tables();
        for table in shadow.all() {
            self.pool
                .execute(format!("DROP TABLE IF EXISTS {table}").as_str())
                .await?;
        }
        self.create(&shadow).await?;
        Ok(Arc::new(Self {
            pool: self.pool.clone(),
            dialect: self.dialect,
            tables: shadow,
        }))
    }

    async fn finish_rebuild(&self) -> Result<(), ReadModelError> {
        let live = Tables::with_suffix("");
        let shadow = self.shadow_tables();
        let old = Tables::with_suffix("_old");
        match self.dialect {
            // One statement, atomic: readers see the old tables or the new ones.
            Dialect::MySql => {
                for table in old.all() {
                    self.pool
                        .execute(format!("DROP TABLE IF EXISTS {table}").as_str())
                        .await?;
                }
                let renames: Vec<String> = live
                    .all()
                    .iter()
                    .zip(old.all())
                    .map(|(l, o)| format!("{l} TO {o}"))
                    .chain(
                        shadow
                            .all()
                            .iter()
                            .zip(live.all())
                            .map(|(s, l)| format!("{s} TO {l}")),
                    )
                    .collect();
                self.pool
                    .execute(format!("RENAME TABLE {}", renames.join(", ")).as_str())
                    .await?;
                for table in old.all() {
                    self.pool
                        .execute(format!("DROP TABLE IF EXISTS {table}").as_str())
                        .await?;
                }
            }
            // SQLite's DDL is transactional: readers see the commit or not.
            Dialect::Sqlite => {
                let mut tx = self.pool.begin().await?;
                for (l, s) in live.all().iter().zip(shadow.all()) {
                    tx.execute(format!("DROP TABLE {l}").as_str()).await?;
                    tx.execute(format!("ALTER TABLE {s} RENAME TO {l}").as_str())
                        .await?;
                }
                tx.commit().await?;
            }
        }
        // Tell other processes serving these tables from memory (see `CachedReadModels`).
        let now = micros(Utc::now());
        let bumped = sqlx::query(
            "UPDATE projection_checkpoints SET position = position + 1, updated_at = ? \
             WHERE name = ?",
        )
        .bind(now)
        .bind(crate::REBUILDS)
        .execute(&self.pool)
        .await?;
        if bumped.rows_affected() == 0 {
            sqlx::query(
                "INSERT INTO projection_checkpoints (position, updated_at, name) VALUES (1, ?, ?)",
            )
            .bind(now)
            .bind(crate::REBUILDS)
            .execute(&self.pool)
            .await?;
        }
        Ok(())
    }

    async fn ping(&self) -> Result<(), ReadModelError> {
        self.pool.execute("SELECT 1").await?;
        Ok(())
    }
}
