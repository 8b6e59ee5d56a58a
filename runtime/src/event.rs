//! Events: the facts an aggregate records, and how they travel to and from storage.
//!
//! `#[derive(Event)]` implements [`Event`] for an enum whose variants each wrap one payload
//! type. The stored form of an event is its payload alone, encoded as JSON; the event's type
//! name and schema version travel beside it, in their own columns (see [`EncodedEvent`]).
//! Older schema versions are *upcast* on load: the derive generates, per variant, the chain
//! of conversions from every older version to the current one.

use crate::store::RecordedEvent;

/// A family of domain events, usually one enum per aggregate.
///
/// Implemented by `#[derive(Event)]`; implementing it by hand is possible but rarely useful.
///
/// ```
/// use annals::Event;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
/// struct Opened { owner: String }
///
/// #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
/// struct Deposited { amount: i64 }
///
/// #[derive(Event, Clone, Debug, PartialEq)]
/// enum AccountEvent {
///     Opened(Opened),
///     #[event(name = "MoneyDeposited")]
///     Deposited(Deposited),
/// }
///
/// let event = AccountEvent::from(Deposited { amount: 5 });
/// assert_eq!(event.event_type(), "MoneyDeposited");
/// let encoded = event.encode().unwrap();
/// assert_eq!(encoded.payload, br#"{"amount":5}"#);
/// let decoded = AccountEvent::decode("MoneyDeposited", 1, &encoded.payload).unwrap();
/// assert_eq!(decoded, event);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an event type",
    label = "not an event",
    note = "add `#[derive(annals::Event)]` to the enum whose variants wrap the event payloads"
)]
pub trait Event: Sized + Send + Sync + 'static {
    /// Every current type name of this family, in declaration order.
    const NAMES: &'static [&'static str];
    /// Every name a stored event of this family may carry: current names and their aliases.
    /// Event-type filters on the global log use this list.
    const STORED_NAMES: &'static [&'static str];
    /// Each variant: its Rust name, its stored type name, its aliases and its version.
    const VARIANTS: &'static [VariantInfo];

    /// The stable type name of this event (stored beside the payload).
    fn event_type(&self) -> &'static str;
    /// The schema version this event is written at (the variant's current version).
    fn schema_version(&self) -> u32;
    /// Encodes the payload alone (JSON).
    fn encode(&self) -> Result<EncodedEvent, EncodeError>;
    /// Decodes a stored payload of the given type name and schema version, upcasting older
    /// versions to the current one.
    fn decode(event_type: &str, schema_version: u32, payload: &[u8])
    -> Result<Self, DecodeFailure>;

    /// Decodes a recorded event, naming the stream, version, type and schema version in the
    /// error when the stored bytes do not decode.
    fn decode_recorded(recorded: &RecordedEvent) -> Result<Self, EventDecodeError> {
        Self::decode(
            &recorded.event_type,
            recorded.schema_version,
            &recorded.payload,
        )
        .map_err(|reason| EventDecodeError {
            stream_id: recorded.stream_id.clone(),
            stream_version: recorded.stream_version,
            position: recorded.position,
            event_type: recorded.event_type.clone(),
            schema_version: recorded.schema_version,
            reason,
        })
    }
}

/// Dispatch of every variant of an event family to a handler of its payload type.
///
/// `#[derive(Event)]` implements `ApplyTo<A>` for every `A` that implements
/// [`Apply`](crate::Apply) for *each* payload type of the family; `#[derive(Aggregate)]`
/// calls it. This is the `match` users never write.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an event enum that `{A}` can apply",
    note = "`event = ...` must name an enum with `#[derive(annals::Event)]`; `{A}` then needs `impl annals::Apply<Payload>` for each of its payloads"
)]
pub trait ApplyTo<A: ?Sized>: Event {
    /// Applies this event to `target`.
    fn apply_to(&self, target: &mut A);
}

/// One variant of an event family, as `#[derive(Event)]` declared it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VariantInfo {
    /// The Rust variant name (`Deposited`).
    pub variant: &'static str,
    /// The stable type name events of this variant are stored under.
    pub name: &'static str,
    /// Former type names that still load as this variant.
    pub aliases: &'static [&'static str],
    /// The current schema version.
    pub version: u32,
}

impl VariantInfo {
    /// The name and the aliases: every type name a stored event of this variant may carry.
    pub fn stored_names(&self) -> impl Iterator<Item = &'static str> + use<> {
        std::iter::once(self.name).chain(self.aliases.iter().copied())
    }
}

/// An event encoded for storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedEvent {
    /// The stable type name.
    pub event_type: &'static str,
    /// The schema version of `payload`.
    pub schema_version: u32,
    /// The payload alone, as JSON.
    pub payload: Vec<u8>,
}

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

/// A raw upcaster: turns the JSON of one schema version into the JSON of the next.
///
/// Declared on a variant with `#[event(version = N, upcast(from = K, raw = path::to::fn))]`.
pub type RawUpcaster = fn(serde_json::Value) -> Result<serde_json::Value, UpcastError>;

/// The decoding steps generated code calls. Each maps a failure to the [`DecodeFailure`]
/// that says what went wrong.
#[doc(hidden)]
pub mod codec {
    use super::{DecodeFailure, RawUpcaster};
    use serde::de::DeserializeOwned;
    use serde_json::Value;

    /// Decodes a payload as `T`.
    #[inline]
    pub fn decode_payload<T: DeserializeOwned>(payload: &[u8]) -> Result<T, DecodeFailure> {
        serde_json::from_slice(payload).map_err(|source| DecodeFailure::Payload {
            rust_type: std::any::type_name::<T>(),
            source,
        })
    }

    /// Parses a payload as a JSON value, for raw upcasters.
    pub fn payload_value(payload: &[u8]) -> Result<Value, DecodeFailure> {
        decode_payload::<Value>(payload)
    }

    /// Runs a raw upcaster that reads version `from`.
    pub fn raw_upcast(
        upcaster: RawUpcaster,
        from: u32,
        value: Value,
    ) -> Result<Value, DecodeFailure> {
        upcaster(value).map_err(|source| DecodeFailure::Upcast { from, source })
    }

    /// Decodes an upcast JSON value as `T`.
    pub fn decode_value<T: DeserializeOwned>(value: Value) -> Result<T, DecodeFailure> {
        serde_json::from_value(value).map_err(|source| DecodeFailure::Payload {
            rust_type: std::any::type_name::<T>(),
            source,
        })
    }
}
