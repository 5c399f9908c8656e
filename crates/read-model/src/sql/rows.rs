//! Rows decoded into views, and statements with their parameters bound.

use crate::apply::{from_micros, parse_genres};
use crate::query::Param;
use crate::{MovieView, ReadModelError, UserView};
use sqlx::any::AnyRow;
use sqlx::{Any, Row};
use uuid::Uuid;

/// `sql` with `params` bound to its `?`s, in order.
pub(super) fn bound(
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
            Param::Null => query.bind(None::<String>),
        },
    )
}

pub(super) fn version_of(row: &AnyRow, index: usize) -> Result<u64, ReadModelError> {
    let v: i64 = row.try_get(index)?;
    u64::try_from(v).map_err(|_| ReadModelError::Corrupt(format!("negative version {v}")))
}

pub(super) fn uuid_of(row: &AnyRow, index: usize) -> Result<Uuid, ReadModelError> {
    let text: String = row.try_get(index)?;
    Uuid::parse_str(&text).map_err(|e| ReadModelError::Corrupt(format!("id `{text}`: {e}")))
}

pub(super) fn movie_of(row: &AnyRow) -> Result<MovieView, ReadModelError> {
    Ok(MovieView {
        id: uuid_of(row, 0)?,
        name: row.try_get(1)?,
        director: row.try_get(2)?,
        genres: parse_genres(&row.try_get::<String, _>(3)?)?,
        imdb_score: row.try_get(4)?,
        popularity: row.try_get(5)?,
        version: version_of(row, 6)?,
        created_at: Some(from_micros(row.try_get(7)?)?),
        updated_at: Some(from_micros(row.try_get(8)?)?),
        poster_path: row.try_get(9)?,
    })
}

pub(super) fn user_of(row: &AnyRow) -> Result<UserView, ReadModelError> {
    Ok(UserView {
        id: uuid_of(row, 0)?,
        name: row.try_get(1)?,
        email: row.try_get(2)?,
        role: row.try_get(3)?,
        registered_at: from_micros(row.try_get(4)?)?,
        version: version_of(row, 5)?,
    })
}
