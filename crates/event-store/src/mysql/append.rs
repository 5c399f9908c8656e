//! One append in its own transaction: events, uniqueness keys, guard, credentials, outbox and
//! idempotency record, and the errors each can raise.

use crate::row::{parse_uuid, sql_version};
use crate::time::now_micros;
use crate::{AppendError, AppendRequest, Appended, IdempotencyRecord, StoreError, UniqueKey};
use sqlx::mysql::{MySql, MySqlPool};
use sqlx::Transaction;
use uuid::Uuid;

/// One append in a transaction of its own.
pub(super) async fn try_append(
    pool: &MySqlPool,
    request: &AppendRequest,
) -> Result<Appended, AppendError> {
    let mut tx = pool.begin().await?;
    let stream_id = request.stream_id.to_string();
    let recorded_at = now_micros().naive_utc();
    let mut positions = Vec::with_capacity(request.events.len());
    let mut version = request.expected_version;

    for event in &request.events {
        version += 1;
        let inserted = sqlx::query(
                "INSERT INTO events (event_id, stream_type, stream_id, version, event_type, \
                 schema_version, payload, metadata, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(event.event_id.to_string())
            .bind(&request.stream_type)
            .bind(&stream_id)
            .bind(sql_version(version)?)
            .bind(event.event_type.as_str())
            .bind(i64::from(event.schema_version))
            .bind(event.payload.to_string())
            .bind(event.metadata.to_string())
            .bind(recorded_at)
            .execute(&mut *tx)
            .await;
        match inserted {
            Ok(done) => positions.push(
                i64::try_from(done.last_insert_id())
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            ),
            Err(e) if is_unique_violation(&e) => return Err(conflict(request)),
            Err(e) => return Err(e.into()),
        }
    }
    if request.expected_version > 0
        && !version_exists(&mut tx, &stream_id, request.expected_version).await?
    {
        return Err(conflict(request));
    }
    if let Some(guard) = &request.guard {
        check_guard(&mut tx, guard).await?;
    }
    for position in &positions {
        sqlx::query("INSERT INTO outbox (position, created_at) VALUES (?, ?)")
            .bind(position)
            .bind(recorded_at)
            .execute(&mut *tx)
            .await?;
    }
    for key in &request.release {
        sqlx::query("DELETE FROM unique_keys WHERE kind = ? AND `key` = ? AND stream_id = ?")
            .bind(&key.kind)
            .bind(&key.key)
            .bind(&stream_id)
            .execute(&mut *tx)
            .await?;
    }
    for key in &request.reserve {
        let claimed =
            sqlx::query("INSERT INTO unique_keys (kind, `key`, stream_id) VALUES (?, ?, ?)")
                .bind(&key.kind)
                .bind(&key.key)
                .bind(&stream_id)
                .execute(&mut *tx)
                .await;
        if let Err(e) = claimed {
            return Err(if is_unique_violation(&e) {
                key_taken(key, &mut tx).await?
            } else {
                e.into()
            });
        }
    }
    if let Some(credentials) = &request.credentials {
        let inserted =
            sqlx::query("INSERT INTO credentials (user_id, email, password_hash) VALUES (?, ?, ?)")
                .bind(credentials.user_id.to_string())
                .bind(&credentials.email)
                .bind(&credentials.password_hash)
                .execute(&mut *tx)
                .await;
        if let Err(e) = inserted {
            return Err(if is_unique_violation(&e) {
                key_taken(&UniqueKey::new("email", credentials.email.clone()), &mut tx).await?
            } else {
                e.into()
            });
        }
    }
    if let Some(record) = &request.idempotency {
        insert_idempotency(&mut tx, record).await?;
    }
    tx.commit().await?;
    Ok(Appended {
        stream_id: request.stream_id,
        version,
        positions,
    })
}

pub(super) fn conflict(request: &AppendRequest) -> AppendError {
    AppendError::Conflict {
        stream_id: request.stream_id,
        expected_version: request.expected_version,
    }
}

pub(crate) fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e) if e.is_unique_violation())
}

pub(super) async fn key_taken(
    key: &UniqueKey,
    tx: &mut Transaction<'_, MySql>,
) -> Result<AppendError, AppendError> {
    // A locking read: it sees the latest committed row. A plain read would see the snapshot
    // this transaction took at its first read (the guard's, before the key was tried), which
    // misses an owner that committed while this append waited for the key.
    let owner: Option<String> = sqlx::query_scalar(
        "SELECT stream_id FROM unique_keys WHERE kind = ? AND `key` = ? LOCK IN SHARE MODE",
    )
    .bind(&key.kind)
    .bind(&key.key)
    .fetch_optional(&mut **tx)
    .await?;
    let owner = match owner {
        Some(owner) => parse_uuid("unique_keys.stream_id", &owner)?,
        None => Uuid::nil(),
    };
    Ok(AppendError::KeyTaken {
        kind: key.kind.clone(),
        owner,
    })
}

pub(super) async fn version_exists(
    tx: &mut Transaction<'_, MySql>,
    stream_id: &str,
    version: u64,
) -> Result<bool, AppendError> {
    let found: Option<i32> =
        sqlx::query_scalar("SELECT 1 FROM events WHERE stream_id = ? AND version = ?")
            .bind(stream_id)
            .bind(sql_version(version)?)
            .fetch_optional(&mut **tx)
            .await?;
    Ok(found.is_some())
}

/// The guarded stream must be exactly at the guard's version (versions have no gaps, so that
/// version exists and no later one does).
pub(super) async fn check_guard(
    tx: &mut Transaction<'_, MySql>,
    guard: &crate::StreamGuard,
) -> Result<(), AppendError> {
    let head: Option<i64> =
        sqlx::query_scalar("SELECT MAX(version) FROM events WHERE stream_id = ?")
            .bind(guard.stream_id.to_string())
            .fetch_one(&mut **tx)
            .await?;
    if head != Some(sql_version(guard.version)?) {
        return Err(AppendError::GuardMoved {
            stream_id: guard.stream_id,
            version: guard.version,
        });
    }
    Ok(())
}

pub(super) async fn insert_idempotency(
    tx: &mut Transaction<'_, MySql>,
    record: &IdempotencyRecord,
) -> Result<(), AppendError> {
    let inserted = sqlx::query(
        "INSERT INTO idempotency_keys (scope, `key`, request_hash, response, created_at) VALUES (?, ?, ?, ?, ?)",
    )
    .bind(&record.scope)
    .bind(&record.key)
    .bind(&record.request_hash)
    .bind(record.response.to_string())
    .bind(now_micros().naive_utc())
    .execute(&mut **tx)
    .await;
    match inserted {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => Err(AppendError::IdempotencyKeyUsed),
        Err(e) => Err(e.into()),
    }
}
