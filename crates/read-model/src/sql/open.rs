//! Connecting: the database and tables made (under the schema lock on MySQL) or waited for.

use super::rows::bound;
use super::{direct, DRIVERS};
use crate::query::Param;
use crate::schema::{
    create_counts, create_fixed_tables, create_tables, Dialect, Tables, MOVIE_COUNT, SHADOW,
};
use crate::{ReadModelError, SqlReadModels};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::MigrateDatabase;
use sqlx::{Any, Executor, Row};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

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

    pub(super) async fn connect_as(url: &str, create: bool) -> Result<Self, ReadModelError> {
        DRIVERS.call_once(sqlx::any::install_default_drivers);
        let (dialect, url) = if url.starts_with("sqlite:") {
            (Dialect::Sqlite, url.to_owned())
        } else if moviedb_event_store::is_mysql_url(url) {
            if !cfg!(feature = "mysql") {
                return Err(ReadModelError::Config(moviedb_event_store::NO_MYSQL.into()));
            }
            (Dialect::MySql, url.replacen("mariadb:", "mysql:", 1))
        } else {
            return Err(ReadModelError::Config(format!(
                "unsupported read-model URL scheme `{}`: use sqlite:// or mysql://",
                moviedb_event_store::url_scheme(url)
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
    pub(super) async fn make(dialect: Dialect, url: &str) -> Result<Self, ReadModelError> {
        #[cfg(feature = "mysql")]
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
    pub(super) async fn open(
        dialect: Dialect,
        url: &str,
        create: bool,
    ) -> Result<Self, ReadModelError> {
        let options = moviedb_sql_kit::ping_when_idle(AnyPoolOptions::new())
            .max_connections(if dialect == Dialect::Sqlite { 4 } else { 16 })
            // Fail fast when the database is down (a 503), rather than hang the request.
            .acquire_timeout(Duration::from_secs(3));
        let options = match dialect {
            Dialect::Sqlite => options.after_connect(|conn, _| {
                Box::pin(async move {
                    // 1 MiB of pages per connection rather than SQLite's 2 MiB: the embedded
                    // process serves details and list pages from memory, and a page not kept
                    // is in the operating system's cache (resident size at 100 000 movies).
                    conn.execute(
                        "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000; \
                                  PRAGMA synchronous = NORMAL; PRAGMA cache_size = -1024; \
                                  PRAGMA journal_size_limit = 67108864",
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
            direct: match dialect {
                Dialect::Sqlite => direct::DirectReads::for_url(url).map(Arc::new),
                Dialect::MySql => None,
            },
        };
        if !create {
            for table in [
                models.tables.versions.as_str(),
                models.tables.counts.as_str(),
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
        #[cfg(feature = "mysql")]
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
        } else if !models.exists(&models.tables.counts).await? {
            models.add_counts().await?;
        }
        models.add_poster_column().await?;
        #[cfg(feature = "mysql")]
        if let Some(lock) = lock {
            lock.release()
                .await
                .map_err(|e| ReadModelError::Unavailable(e.to_string()))?;
        }
        Ok(models)
    }

    pub(super) async fn exists(&self, table: &str) -> Result<bool, ReadModelError> {
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

    pub(super) async fn create(&self, tables: &Tables) -> Result<(), ReadModelError> {
        self.create_with(tables, true).await
    }

    /// Makes `tables`; on SQLite without their secondary indexes unless `indexes` (MySQL's
    /// are declared inline, and always made).
    pub(super) async fn create_with(
        &self,
        tables: &Tables,
        indexes: bool,
    ) -> Result<(), ReadModelError> {
        let gen = Uuid::now_v7().simple().to_string();
        let mut tx = self.pool.begin().await?;
        let statements = create_tables(self.dialect, tables, &gen)
            .into_iter()
            .filter(|s| indexes || !s.starts_with("CREATE INDEX"));
        for statement in statements {
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

    /// Makes the secondary indexes of `tables` (SQLite) if the movies table has none: each is
    /// built from its rows in one sorted pass, rather than grown row by row.
    pub(super) async fn create_missing_indexes(
        &self,
        tables: &Tables,
    ) -> Result<(), ReadModelError> {
        if self.dialect != Dialect::Sqlite {
            return Ok(());
        }
        let (made,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = ? \
             AND sql IS NOT NULL",
        )
        .bind(tables.movies.clone())
        .fetch_one(&self.pool)
        .await?;
        if made > 0 {
            return Ok(());
        }
        let gen = Uuid::now_v7().simple().to_string();
        let mut tx = self.pool.begin().await?;
        for statement in create_tables(self.dialect, tables, &gen)
            .iter()
            .filter(|s| s.starts_with("CREATE INDEX"))
        {
            tx.execute(statement.as_str()).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Gives tables made before `{counts}` existed their counts, from their rows.
    async fn add_counts(&self) -> Result<(), ReadModelError> {
        let t = &self.tables;
        let mut tx = self.pool.begin().await?;
        let [table, _] = <[String; 2]>::try_from(create_counts(self.dialect, t))
            .map_err(|_| ReadModelError::Corrupt("the counts table's statements".into()))?;
        tx.execute(table.as_str()).await?;
        tx.execute(
            t.sql(&format!(
                "INSERT INTO {{counts}} (name, n) SELECT '{MOVIE_COUNT}', COUNT(*) FROM {{movies}}"
            ))
            .as_str(),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Movies tables made before posters gain their column (empty: no event set one yet).
    async fn add_poster_column(&self) -> Result<(), ReadModelError> {
        let movies = &self.tables.movies;
        match self
            .pool
            .fetch_optional(format!("SELECT poster FROM {movies} WHERE 1 = 0").as_str())
            .await
        {
            Ok(_) => return Ok(()),
            Err(sqlx::Error::Database(e))
                if e.message().contains("no such column")
                    || e.message().contains("Unknown column") => {}
            Err(e) => return Err(e.into()),
        }
        let column = match self.dialect {
            Dialect::Sqlite => "poster TEXT",
            Dialect::MySql => "poster VARCHAR(64) NULL",
        };
        self.pool
            .execute(format!("ALTER TABLE {movies} ADD COLUMN {column}").as_str())
            .await?;
        tracing::info!(table = %movies, "added the poster column");
        Ok(())
    }

    pub(super) fn shadow_tables(&self) -> Tables {
        Tables::with_suffix(SHADOW)
    }

    pub(super) async fn fetch_all(
        &self,
        sql: &str,
        params: Vec<Param>,
    ) -> Result<Vec<AnyRow>, ReadModelError> {
        Ok(bound(sql, params).fetch_all(&self.pool).await?)
    }

    /// The rows of `head` (a query ending in `IN `, tables in braces) for `ids`
    /// ([`crate::apply::rows_by_ids`]).
    pub(super) async fn fetch_by_ids(
        &self,
        head: &str,
        ids: &[Uuid],
    ) -> Result<Vec<AnyRow>, ReadModelError> {
        let mut conn = self.pool.acquire().await?;
        crate::apply::rows_by_ids(&mut conn, &self.tables.sql(head), ids).await
    }

    pub(super) async fn count(&self, sql: &str, params: Vec<Param>) -> Result<u64, ReadModelError> {
        let rows = self.fetch_all(sql, params).await?;
        let n: i64 = match rows.first() {
            Some(row) => row.try_get(0)?,
            None => 0,
        };
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

pub(super) const NOT_MADE: &str = "the read models are not made yet";

/// Whether opening failed because the database or the tables do not exist yet.
pub(super) fn not_made(error: &ReadModelError) -> bool {
    let text = error.to_string();
    text.contains(NOT_MADE) || text.contains("Unknown database")
}

/// Whether making failed because this user may not write (or the server is read-only).
pub(super) fn denied(error: &ReadModelError) -> bool {
    let text = error.to_string().to_lowercase();
    text.contains("denied") || text.contains("read-only") || text.contains("read only")
}
