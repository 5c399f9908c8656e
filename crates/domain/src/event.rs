//! How domain events become stored events and back.

/// A domain event with a stable stored name and schema version.
///
/// The stored shape (`event_type`, `schema_version`, JSON payload) is decoupled from the enum,
/// so an event's Rust shape can change while old payloads are upcast in [`DomainEvent::decode`].
pub trait DomainEvent: Sized {
    /// The stored name, past tense (`MovieAdded`).
    fn event_type(&self) -> &'static str;
    /// The schema version this code writes for the event.
    fn schema_version(&self) -> u32;
    /// The JSON payload (without the envelope).
    fn payload(&self) -> serde_json::Value;
    /// Rebuilds an event from its stored parts, upcasting older schema versions.
    fn decode(
        event_type: &str,
        schema_version: u32,
        payload: serde_json::Value,
    ) -> Result<Self, DecodeError>;
}

/// A stored event this code cannot read.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The event type is not one this stream knows.
    #[error("unknown event type `{0}`")]
    UnknownType(String),
    /// The schema version is newer than this code, or was never written.
    #[error("unsupported schema version {version} of `{event_type}`")]
    UnsupportedVersion {
        /// The stored event type.
        event_type: String,
        /// The stored schema version.
        version: u32,
    },
    /// The payload does not match the schema.
    #[error("malformed payload of `{event_type}`: {source}")]
    Payload {
        /// The stored event type.
        event_type: String,
        /// What serde said.
        source: serde_json::Error,
    },
}

/// Deserialises a payload, naming the event in the error.
pub(crate) fn from_payload<T: serde::de::DeserializeOwned>(
    event_type: &str,
    payload: serde_json::Value,
) -> Result<T, DecodeError> {
    serde_json::from_value(payload).map_err(|source| DecodeError::Payload {
        event_type: event_type.to_owned(),
        source,
    })
}

/// Serialises a payload struct; the domain's payloads are plain data and always serialise.
pub(crate) fn to_payload<T: serde::Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}
