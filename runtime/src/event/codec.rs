//! The stored form of events and the decoding steps the derive generates: used by
//! generated code (through `annals::__private`), not public API.

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{DecodeFailure, UpcastError};

/// Decodes a payload as `T` (an older version's type, which need not serialize).
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
pub fn raw_upcast(upcaster: RawUpcaster, from: u32, value: Value) -> Result<Value, DecodeFailure> {
    upcaster(value).map_err(|source| DecodeFailure::Upcast { from, source })
}

/// Decodes an upcast JSON value as `T`.
pub fn decode_value<T: DeserializeOwned>(value: Value) -> Result<T, DecodeFailure> {
    serde_json::from_value(value).map_err(|source| DecodeFailure::Payload {
        rust_type: std::any::type_name::<T>(),
        source,
    })
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

/// A raw upcaster: turns the JSON of one schema version into the JSON of the next.
///
/// Declared on a variant with `#[event(version = N, upcast(from = K, raw = path::to::fn))]`.
pub type RawUpcaster = fn(serde_json::Value) -> Result<serde_json::Value, UpcastError>;
