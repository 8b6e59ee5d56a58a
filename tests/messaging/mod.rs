//! The orders domain the messaging tests publish: two public events and a private one.

#![allow(dead_code)] // Each test crate uses a part of it.

use annals::messaging::{MappingError, Message, Publish, Publisher};
use annals::store::{EventStore, ExpectedVersion, Metadata};
use annals::{Event, Recorded};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Placed {
    pub total: i64,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Shipped {
    pub carrier: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct NoteAdded {
    pub note: String,
}

#[derive(Event, Clone, Debug, PartialEq)]
pub enum OrderEvent {
    Placed(Placed),
    Shipped(Shipped),
    NoteAdded(NoteAdded),
}

/// `NoteAdded` is private: not consumed, never published. A shipment by carrier "nobody"
/// cannot be mapped.
#[derive(Publisher)]
#[publisher(name = "orders", events(OrderEvent::{Placed, Shipped}))]
pub struct OrderMessages {
    /// The subjects' prefix: each test its own.
    pub prefix: String,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct OrderPlacedV1 {
    pub order_id: String,
    pub total: i64,
}

impl Publish<Placed> for OrderMessages {
    fn publish(&self, placed: Recorded<'_, Placed>) -> Result<Option<Message>, MappingError> {
        let public = OrderPlacedV1 {
            order_id: placed.stream_id.trim_start_matches("order-").to_owned(),
            total: placed.total,
        };
        let subject = format!("{}.placed", self.prefix);
        Ok(Some(Message::json(subject, "OrderPlaced", 1, &public)?))
    }
}

impl Publish<Shipped> for OrderMessages {
    fn publish(&self, shipped: Recorded<'_, Shipped>) -> Result<Option<Message>, MappingError> {
        if shipped.carrier == "nobody" {
            return Err("no carrier called \"nobody\"".into());
        }
        let subject = format!("{}.shipped", self.prefix);
        Ok(Some(
            Message::json(subject, "OrderShipped", 1, &*shipped)?
                .with_header("carrier", &shipped.carrier),
        ))
    }
}

/// Appends `events` to order `id`'s stream; returns the last position.
pub async fn record(store: &impl EventStore, id: &str, events: Vec<OrderEvent>) -> u64 {
    let events = events
        .iter()
        .map(|event| event.to_new_event(Metadata::default()).expect("encodes"))
        .collect();
    store
        .append(&format!("order-{id}"), ExpectedVersion::Any, events)
        .await
        .expect("append")
        .last_position()
}

pub fn placed(total: i64) -> OrderEvent {
    OrderEvent::Placed(Placed { total })
}

pub fn shipped(carrier: &str) -> OrderEvent {
    OrderEvent::Shipped(Shipped {
        carrier: carrier.to_owned(),
    })
}

pub fn note(note: &str) -> OrderEvent {
    OrderEvent::NoteAdded(NoteAdded {
        note: note.to_owned(),
    })
}

/// The publisher's name, for checkpoint keys.
pub const PUBLISHER: &str = <OrderMessages as Publisher>::NAME;
