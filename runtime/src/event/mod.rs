//! Events: the facts an aggregate records, and how they travel to and from storage.
//!
//! `#[derive(Event)]` implements [`Event`] for an enum whose variants each wrap one payload
//! type. The stored form of an event is its payload alone, encoded as JSON; the event's type
//! name and schema version travel beside it, in their own columns.
//! Older schema versions are *upcast* on load: the derive generates, per variant, the chain
//! of conversions from every older version to the current one.

pub(crate) mod codec;
mod error;
pub(crate) mod names;

use self::codec::{EncodedEvent, VariantInfo};
pub use self::error::{DecodeFailure, EncodeError, EventDecodeError, UpcastError};
use crate::store::{Metadata, NewEvent, RecordedEvent};

/// A family of domain events, usually one enum per aggregate.
///
/// Implemented by `#[derive(Event)]` on an enum whose variants each wrap one payload type
/// (`Deposited(Deposited)`); the derive also writes `From<Payload>` for each payload, so a
/// handler returns `Deposited { .. }.into()`. Implementing it by hand is possible but rarely
/// useful.
///
/// # Attributes
///
/// `#[event(...)]` on a variant:
///
/// | key | meaning | default |
/// | --- | --- | --- |
/// | `name = "..."` | the stable name the variant's events are stored under; unique in the enum, and in every log it is written to | the variant's name |
/// | `aliases = ["...", ...]` | former names that still load as this variant: rename a variant and keep its stored events readable | none |
/// | `version = N` | the payload's current schema version | 1 |
/// | `upcast(from = K, with = T)` | a stored version-K payload decodes as `T`, then converts with `From<T>` into version K+1's type (the next upcast's `with`, or the payload) | |
/// | `upcast(from = K, raw = f)` | `f: fn(serde_json::Value) -> Result<serde_json::Value, UpcastError>` rewrites version K's JSON as version K+1's | |
///
/// A variant at version N lists one upcast for each older version, 1 to N-1; raw upcasts
/// come before typed ones. `#[event(crate = "...")]` on the enum sets the path to annals,
/// for crates that re-export it (default `::annals`).
///
/// ```
/// use annals::{Event, UpcastError};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
/// struct Opened { owner: String }
///
/// #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
/// struct Deposited { amount: i64, currency: String }
///
/// /// How version 2 stored a deposit: no currency.
/// #[derive(Deserialize)]
/// struct DepositedV2 { amount: i64 }
/// impl From<DepositedV2> for Deposited {
///     fn from(v2: DepositedV2) -> Self { Deposited { amount: v2.amount, currency: "EUR".into() } }
/// }
///
/// /// Version 1 called the amount `cents`.
/// fn cents_to_amount(mut v1: serde_json::Value) -> Result<serde_json::Value, UpcastError> {
///     let cents = v1.get("cents").cloned().ok_or_else(|| UpcastError::missing_field("cents"))?;
///     v1["amount"] = cents;
///     Ok(v1)
/// }
///
/// #[derive(Event, Clone, Debug, PartialEq)]
/// enum AccountEvent {
///     #[event(name = "AccountOpened", aliases = ["Opened"])]
///     Opened(Opened),
///     #[event(
///         name = "MoneyDeposited",
///         version = 3,
///         upcast(from = 1, raw = cents_to_amount),
///         upcast(from = 2, with = DepositedV2),
///     )]
///     Deposited(Deposited),
/// }
///
/// let event = AccountEvent::from(Deposited { amount: 5, currency: "EUR".into() });
/// assert_eq!((event.event_type(), event.schema_version()), ("MoneyDeposited", 3));
/// let stored = event.to_new_event(Default::default()).unwrap();
/// assert_eq!(AccountEvent::decode("MoneyDeposited", 3, &stored.payload).unwrap(), event);
///
/// // Events stored by older releases load as the current version.
/// assert_eq!(AccountEvent::decode("MoneyDeposited", 1, br#"{"cents":5}"#).unwrap(), event);
/// let opened = AccountEvent::decode("Opened", 1, br#"{"owner":"Ada"}"#).unwrap();
/// assert_eq!(opened.event_type(), "AccountOpened");
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
    /// Each variant: its Rust name, its stored type name, its aliases and its version
    /// (what the derives of consumers read).
    #[doc(hidden)]
    const VARIANTS: &'static [VariantInfo];

    /// The stable type name of this event (stored beside the payload).
    fn event_type(&self) -> &'static str;
    /// The schema version this event is written at (the variant's current version).
    fn schema_version(&self) -> u32;
    /// Encodes the payload alone (JSON), with its type name and schema version; see
    /// [`to_new_event`](Event::to_new_event).
    #[doc(hidden)]
    fn encode(&self) -> Result<EncodedEvent, EncodeError>;
    /// Decodes a stored payload of the given type name and schema version, upcasting older
    /// versions to the current one.
    fn decode(event_type: &str, schema_version: u32, payload: &[u8])
    -> Result<Self, DecodeFailure>;

    /// This event, encoded, as a [`NewEvent`] with a fresh id and `metadata`: ready for a
    /// raw append (seeding, imports, tests of a read model).
    ///
    /// ```
    /// # use annals::Event;
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
    /// # struct Deposited { amount: i64 }
    /// # #[derive(Event, Clone, Debug, PartialEq)]
    /// # enum AccountEvent { Deposited(Deposited) }
    /// use annals::store::Metadata;
    ///
    /// let event = AccountEvent::from(Deposited { amount: 5 }).to_new_event(Metadata::default())?;
    /// assert_eq!((event.event_type.as_str(), event.schema_version), ("Deposited", 1));
    /// assert_eq!(event.payload, br#"{"amount":5}"#);
    /// # Ok::<(), annals::EncodeError>(())
    /// ```
    fn to_new_event(&self, metadata: Metadata) -> Result<NewEvent, EncodeError> {
        let encoded = self.encode()?;
        Ok(NewEvent::new(
            encoded.event_type,
            encoded.schema_version,
            encoded.payload,
            metadata,
        ))
    }

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
