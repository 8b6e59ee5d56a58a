//! How encoding and decoding events fails.

/// Encoding an event failed (its payload's `Serialize` implementation returned an error).
#[derive(Debug, thiserror::Error)]
#[error("could not encode event `{event_type}`: {source}")]
pub struct EncodeError {
    /// The type name of the event that failed to encode.
    pub event_type: &'static str,
    /// The serializer's error.
    #[source]
    pub source: serde_json::Error,
}

/// Why a stored payload could not be decoded into the current event type.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeFailure {
    /// No variant of the family has this name (nor an alias of it).
    #[error("unknown event type (known: {known})", known = .known.join(", "))]
    UnknownType {
        /// The names the family accepts.
        known: &'static [&'static str],
    },
    /// The variant exists, but declares no upcast from this schema version.
    #[error("no upcaster from schema version {found} (current version is {current})")]
    UnknownVersion {
        /// The stored schema version.
        found: u32,
        /// The variant's current schema version.
        current: u32,
    },
    /// The payload is not valid JSON for the type of its schema version.
    #[error("payload does not decode as `{rust_type}`: {source}")]
    Payload {
        /// The Rust type the payload was decoded as.
        rust_type: &'static str,
        /// The deserializer's error.
        #[source]
        source: serde_json::Error,
    },
    /// A raw (JSON) upcaster rejected the payload.
    #[error("upcast from schema version {from} failed: {source}")]
    Upcast {
        /// The version the failing upcaster reads.
        from: u32,
        /// The upcaster's error.
        #[source]
        source: UpcastError,
    },
}

/// A stored event that could not be decoded, with everything an operator needs to find it.
#[derive(Debug, thiserror::Error)]
#[error(
    "event {stream_id}@{stream_version} (position {position}, type `{event_type}`, schema version {schema_version}) does not decode: {reason}"
)]
pub struct EventDecodeError {
    /// The stream holding the event.
    pub stream_id: String,
    /// The event's version in its stream.
    pub stream_version: u64,
    /// The event's global position.
    pub position: u64,
    /// The stored type name.
    pub event_type: String,
    /// The stored schema version.
    pub schema_version: u32,
    /// What went wrong.
    #[source]
    pub reason: DecodeFailure,
}

/// The error a raw upcaster returns when a stored JSON payload cannot be migrated.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct UpcastError {
    message: String,
}

impl UpcastError {
    /// An upcast error with a message saying what was wrong with the payload.
    pub fn new(message: impl Into<String>) -> Self {
        UpcastError {
            message: message.into(),
        }
    }

    /// The payload lacks a field the upcaster needs.
    pub fn missing_field(field: &str) -> Self {
        UpcastError::new(format!("missing field `{field}`"))
    }
}
