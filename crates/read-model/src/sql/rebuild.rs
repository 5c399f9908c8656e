//! Dumping the tables (for tests and checks), loading folded streams in bulk, and the
//! rebuild's shadow tables and swap.

use super::{movie_of, user_of, version_of, LOAD_CHUNK, MOVIE_COLUMNS};
use crate::apply::{
    count_movies, genre_rows, micros, movie_row, stream_inserts, user_row, version_row,
    write_inserts,
};
use crate::schema::{Dialect, Tables};
use crate::{FoldedState, FoldedStream, ReadModelError, ReadModelWriter, SqlReadModels};
use chrono::Utc;
use serde_json::{json, Value};
use sqlx::{Executor, Row};
use std::sync::Arc;

impl SqlReadModels {
    pub(super) async fn dump_tables(&self) -> Result<Value, ReadModelError> {
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
            "movies": movies.iter().map(|r| movie_of(r).map(|m| serde_json::to_value(m).unwrap_or_default())).collect::<Result<Vec<_>, _>>()?,
            "genres": genres.iter().map(|r| Ok(json!([r.try_get::<String, _>(0)?, r.try_get::<String, _>(1)?]))).collect::<Result<Vec<_>, ReadModelError>>()?,
            "users": users.iter().map(|r| user_of(r).map(|u| serde_json::to_value(u).unwrap_or_default())).collect::<Result<Vec<_>, _>>()?,
            "versions": versions.iter().map(|r| Ok(json!([r.try_get::<String, _>(0)?, r.try_get::<String, _>(1)?, version_of(r, 2)?]))).collect::<Result<Vec<_>, ReadModelError>>()?,
        }))
    }

    pub(super) async fn load_folded(&self, streams: &[FoldedStream]) -> Result<(), ReadModelError> {
        let t = &self.tables;
        let mut tx = self.pool.begin().await?;
        let mut loaded = 0;
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
                        poster,
                    } => {
                        genres.extend(genre_rows(&id, &fields.genres));
                        movies.push(movie_row(
                            &id,
                            fields,
                            stream.version,
                            *created_at,
                            *updated_at,
                            poster.as_deref(),
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
            loaded += movies.len() as i64;
            let inserts = stream_inserts(t, [movies, genres, users, versions]);
            write_inserts(&mut tx, &inserts, None).await?;
        }
        tx.execute(count_movies(t, loaded).as_str()).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn make_shadow(&self) -> Result<Arc<dyn ReadModelWriter>, ReadModelError> {
        let shadow = self.shadow_tables();
        for table in shadow.all() {
            self.pool
                .execute(format!("DROP TABLE IF EXISTS {table}").as_str())
                .await?;
        }
        // Without their secondary indexes: the load appends rows, and the indexes are built
        // from them before the swap (at 1 000 000 movies, grown row by row, the seven random-
        // order indexes cost most of the load).
        self.create_with(&shadow, false).await?;
        Ok(Arc::new(Self {
            pool: self.pool.clone(),
            dialect: self.dialect,
            tables: shadow,
            direct: None,
        }))
    }

    pub(super) async fn swap_in_shadow(&self) -> Result<(), ReadModelError> {
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
                self.create_missing_indexes(&shadow).await?;
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
}
