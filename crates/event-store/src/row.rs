//! The raw columns of an `events` row, shared by both adapters, and their checked decoding.

use crate::{StoreError, StoredEvent};
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// The columns every adapter selects, in this order.
pub(crate) const EVENT_COLUMNS: &str = "position, event_id, stream_type, stream_id, version, \
     event_type, schema_version, payload, metadata, recorded_at";

pub(crate) struct RawEvent {
    pub position: i64,
    pub event_id: String,
    pub stream_type: String,
    pub stream_id: String,
    pub version: i64,
    pub event_type: String,
    pub schema_version: i64,
    pub payload: String,
    pub metadata: String,
    pub recorded_at: DateTime<Utc>,
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

impl RawEvent {
    pub fn into_stored(self) -> Result<StoredEvent, StoreError> {
        Ok(StoredEvent {
            position: self.position,
            event_id: Uuid::parse_str(&self.event_id).map_err(|e| corrupt("event_id", e))?,
            stream_type: self.stream_type,
            stream_id: Uuid::parse_str(&self.stream_id).map_err(|e| corrupt("stream_id", e))?,
            version: u64::try_from(self.version).map_err(|e| corrupt("version", e))?,
            event_type: self.event_type,
            schema_version: u32::try_from(self.schema_version)
                .map_err(|e| corrupt("schema_version", e))?,
            payload: serde_json::from_str(&self.payload).map_err(|e| corrupt("payload", e))?,
            metadata: serde_json::from_str(&self.metadata).map_err(|e| corrupt("metadata", e))?,
            recorded_at: self.recorded_at,
        })
    }
}

pub(crate) fn parse_uuid(column: &str, text: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(text).map_err(|e| corrupt(column, e))
}

/// Versions are u64 in the domain and BIGINT in SQL; anything past i64 is refused, not wrapped.
pub(crate) fn sql_version(version: u64) -> Result<i64, StoreError> {
    i64::try_from(version)
        .map_err(|_| StoreError::Config(format!("version {version} out of range")))
}
