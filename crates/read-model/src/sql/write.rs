//! The projector's side of the SQL read models: batches applied, dead letters, histories,
//! and the rebuild's shadow tables.

use super::rows::{movie_of, uuid_of, version_of};
use super::{keep_newest, keep_newest_mysql, LOAD_CHUNK, MOVIE_COLUMNS};
use crate::apply::{apply_events, count_movies, micros, set_version, write_inserts};
use crate::query::Param;
use crate::schema::Dialect;
use crate::{
    ApplyReport, Checkpoint, FoldedStream, MovieView, ReadModelError, ReadModelWriter,
    SqlReadModels,
};
use async_trait::async_trait;
use chrono::Utc;
use moviedb_event_store::StoredEvent;
use serde_json::Value;
use sqlx::Executor;
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

#[async_trait]
impl ReadModelWriter for SqlReadModels {
    #[tracing::instrument(skip_all, fields(events = events.len()), err)]
    async fn apply(
        &self,
        events: &[StoredEvent],
        checkpoint: Option<&Checkpoint>,
    ) -> Result<ApplyReport, ReadModelError> {
        let mut tx = self.pool.begin().await?;
        let (report, mut inserts, movies) = apply_events(&mut tx, &self.tables, events).await?;
        // Every movie event of the batch, duplicates left as they are.
        let all: Vec<&StoredEvent> = events.iter().collect();
        inserts.extend(crate::history::insert(self.dialect, &all));
        let newest = (report.applied > 0)
            .then(|| events.iter().map(|e| micros(e.recorded_at)).max())
            .flatten();
        let count = (movies != 0).then(|| count_movies(&self.tables, movies));
        match (self.dialect, newest) {
            // One round trip for the new rows, the history, the count and the checkpoint.
            (Dialect::MySql, Some(newest)) => {
                let mut then = keep_newest_mysql(newest);
                if let Some(count) = count {
                    then = format!("{count};\n{then}");
                }
                write_inserts(&mut tx, &inserts, Some(&then)).await?;
            }
            (_, newest) => {
                write_inserts(&mut tx, &inserts, None).await?;
                if let Some(count) = count {
                    tx.execute(count.as_str()).await?;
                }
                if let Some(newest) = newest {
                    keep_newest(&mut tx, newest).await?;
                }
            }
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

    async fn movies_by_id(&self, ids: &[Uuid]) -> Result<Vec<MovieView>, ReadModelError> {
        let mut found = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(LOAD_CHUNK) {
            let head = format!("SELECT {MOVIE_COLUMNS} FROM {{movies}} m WHERE m.movie_id IN ");
            let rows = self.fetch_by_ids(&head, chunk).await?;
            for row in rows {
                found.push(movie_of(&row)?);
            }
        }
        Ok(found)
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

    async fn poster_hashes(&self) -> Result<std::collections::HashSet<String>, ReadModelError> {
        let rows = self
            .fetch_all(
                &self
                    .tables
                    .sql("SELECT poster FROM {movies} WHERE poster IS NOT NULL"),
                vec![],
            )
            .await?;
        rows.iter()
            .map(|row| {
                let path: String = sqlx::Row::try_get(row, 0)?;
                // `/{hash}.{ext}`
                let hash = path
                    .trim_start_matches('/')
                    .split('.')
                    .next()
                    .unwrap_or_default();
                Ok(hash.to_owned())
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
        // One transaction: on SQLite a commit per statement is an fsync per 500 rows.
        let mut tx = self.pool.begin().await?;
        crate::history::write(&mut tx, self.dialect, events).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn dump(&self) -> Result<Value, ReadModelError> {
        self.dump_tables().await
    }

    #[tracing::instrument(skip_all, fields(streams = streams.len()), err)]
    async fn load(&self, streams: &[FoldedStream]) -> Result<(), ReadModelError> {
        self.load_folded(streams).await
    }

    async fn begin_rebuild(&self) -> Result<Arc<dyn ReadModelWriter>, ReadModelError> {
        self.make_shadow().await
    }

    async fn finish_rebuild(&self) -> Result<(), ReadModelError> {
        self.swap_in_shadow().await
    }
}
