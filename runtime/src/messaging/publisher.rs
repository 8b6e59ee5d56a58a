//! What a publisher is: the mapping of the domain events it consumes to public messages.

use super::message::{MappingError, Message};
use crate::projection::recorded::Recorded;
use crate::store::RecordedEvent;

/// The mapping of domain events to public messages, which a
/// [`Relay`](super::Relay) publishes. Implemented by `#[derive(Publisher)]`.
///
/// Private domain events never leave: the relay reads only the events the publisher
/// consumes, and publishes only what a [`Publish`] handler maps them to.
///
/// # Attributes
///
/// `#[publisher(...)]` on the publisher's type:
///
/// | key | meaning | default |
/// | --- | --- | --- |
/// | `events(E, F::{V1, V2})` | the event enums consumed: `E` whole (every variant needs a [`Publish`] handler), `F` only for the variants listed (events of other variants are not read) | required |
/// | `name = "..."` | the publisher's name: its relay's checkpoint key, and part of every message id | the type's name in snake_case |
/// | `crate = "..."` | the path to annals, for crates that re-export it | `::annals` |
///
/// ```
/// use annals::messaging::{MappingError, Message, Publish, Publisher};
/// use annals::{Event, Recorded};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
/// struct Placed { total_cents: i64, internal_note: String }
/// #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
/// struct NoteAdded { note: String }
///
/// #[derive(Event, Clone, Debug, PartialEq)]
/// enum OrderEvent { Placed(Placed), NoteAdded(NoteAdded) }
///
/// /// `NoteAdded` is private: it is not consumed, so it never leaves.
/// #[derive(Publisher)]
/// #[publisher(name = "orders", events(OrderEvent::{Placed}))]
/// struct OrderMessages;
///
/// #[derive(Serialize)]
/// struct OrderPlacedV1<'a> { order_id: &'a str, total_cents: i64 }
///
/// impl Publish<Placed> for OrderMessages {
///     fn publish(&self, placed: Recorded<'_, Placed>) -> Result<Option<Message>, MappingError> {
///         let order_id = placed.stream_id.trim_start_matches("order-");
///         let public = OrderPlacedV1 { order_id, total_cents: placed.total_cents };
///         Ok(Some(Message::json("orders.placed", "OrderPlaced", 1, &public)?))
///     }
/// }
///
/// assert_eq!(OrderMessages::NAME, "orders");
/// assert_eq!(OrderMessages::event_types(), ["Placed"]);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a publisher",
    label = "not a publisher",
    note = "add `#[derive(annals::Publisher)]` and `#[publisher(name = \"...\", events(...))]` to `{Self}`"
)]
pub trait Publisher: Send + Sync + 'static {
    /// The publisher's name: its relay's checkpoint key, and part of every message id.
    const NAME: &'static str;

    /// The stored event type names the publisher consumes (aliases included), in the order
    /// of `events(...)`. The relay reads only these from the store.
    fn event_types() -> Vec<&'static str>;

    /// The event enums consumed, each with the stored names read of it, for the store's
    /// [`Catalog`](crate::store::Catalog). `#[derive(Publisher)]` writes it.
    #[doc(hidden)]
    fn consumed_enums() -> Vec<(crate::store::Owner, Vec<&'static str>)> {
        Vec::new()
    }

    /// Decodes `recorded` and maps it to its public message, or to none. An event of a
    /// type the publisher does not consume maps to none.
    fn publish_recorded(&self, recorded: &RecordedEvent) -> Result<Option<Message>, MappingError>;

    /// The key of this publisher's relay checkpoint: `"relay:{NAME}"`.
    fn checkpoint_key() -> String {
        format!("relay:{}", Self::NAME)
    }
}

/// Maps one domain event payload type to a public message, with the event's envelope.
///
/// Write one impl per event the publisher consumes; `#[derive(Publisher)]` dispatches to
/// them. Return `Ok(None)` for an event that publishes nothing; an `Err` (or a panic) makes
/// the event a dead letter: the relay parks its stream behind it until an operator replays
/// or discards it ([`RelayHandle`](super::RelayHandle)).
#[diagnostic::on_unimplemented(
    message = "publisher `{Self}` has no mapping for event `{E}`",
    label = "`{E}` is not mapped by `{Self}`",
    note = "add `impl annals::messaging::Publish<{E}> for {Self} {{ fn publish(&self, event: annals::Recorded<'_, {E}>) -> Result<Option<annals::messaging::Message>, annals::messaging::MappingError> {{ /* the public message */ }} }}`, or stop consuming `{E}` in `#[publisher(events(...))]`"
)]
pub trait Publish<E> {
    /// The public message `event` is published as, or `None`.
    fn publish(&self, event: Recorded<'_, E>) -> Result<Option<Message>, MappingError>;
}
