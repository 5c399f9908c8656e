//! Timestamps: UTC, microsecond precision, the same in both databases.

use chrono::{DateTime, Utc};

/// Now, to the microsecond (what `DATETIME(6)` keeps), so a stored event reads back equal.
pub use moviedb_sql_kit::time::now as now_micros;

/// SQLite stores times as RFC 3339 text with six fractional digits.
pub fn to_sqlite_text(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Parses what [`to_sqlite_text`] wrote.
pub fn from_sqlite_text(text: &str) -> Result<DateTime<Utc>, crate::StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| crate::StoreError::Corrupt(format!("bad timestamp `{text}`: {e}")))
}

/// MySQL DATETIME(6) holds UTC by convention; it has no zone of its own.
#[cfg(feature = "mysql")]
pub fn from_mysql(at: chrono::NaiveDateTime) -> DateTime<Utc> {
    at.and_utc()
}
