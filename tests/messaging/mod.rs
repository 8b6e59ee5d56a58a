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
/// cannot be mapped until the mapping is fixed (`fixed`).
#[derive(Publisher)]
#[publisher(name = "orders", events(OrderEvent::{Placed, Shipped}))]
pub struct OrderMessages {
    /// The subjects' prefix: each test its own.
    pub prefix: String,
    /// Whether the mapping of carrier "nobody" has been fixed.
    pub fixed: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl OrderMessages {
    pub fn new(prefix: impl Into<String>) -> Self {
        OrderMessages {
            prefix: prefix.into(),
            fixed: Default::default(),
        }
    }
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
        if shipped.carrier == "nobody" && !self.fixed.load(std::sync::atomic::Ordering::SeqCst) {
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

/// Appends `events` to order `id`'s stream with `metadata`; returns what was appended.
pub async fn record_with(
    store: &impl EventStore,
    id: &str,
    events: Vec<OrderEvent>,
    metadata: Metadata,
) -> annals::store::AppendResult {
    let events = events
        .iter()
        .map(|event| event.to_new_event(metadata.clone()).expect("encodes"))
        .collect();
    store
        .append(&format!("order-{id}"), ExpectedVersion::Any, events)
        .await
        .expect("append")
}

/// The shipping service: a shipment recorded for each order placed it hears of.
pub mod shipping {
    use annals::messaging::{HandlerError, IncomingMessage, MessageHandler};
    use annals::store::{EventStore, SnapshotStore};
    use annals::{Aggregate, Apply, Command, Event, Handle, Repository};
    use serde::{Deserialize, Serialize};

    use super::OrderPlacedV1;

    #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
    pub struct ShipmentRecorded {
        pub total: i64,
    }

    #[derive(Event, Clone, Debug, PartialEq)]
    pub enum ShipmentEvent {
        ShipmentRecorded(ShipmentRecorded),
    }

    #[derive(Debug, thiserror::Error)]
    #[error("never")]
    pub struct ShippingError;

    /// The shipments of one order: how many were recorded.
    #[derive(Aggregate, Default)]
    #[aggregate(event = ShipmentEvent, error = ShippingError)]
    pub struct Shipments {
        pub recorded: u32,
    }

    impl Apply<ShipmentRecorded> for Shipments {
        fn apply(&mut self, _: &ShipmentRecorded) {
            self.recorded += 1;
        }
    }

    #[derive(Command)]
    #[command(aggregate = Shipments, expect = any)]
    pub struct RecordShipment {
        #[id]
        pub order_id: String,
        pub total: i64,
    }

    impl Handle<RecordShipment> for Shipments {
        fn handle(&self, command: &RecordShipment) -> Result<Vec<ShipmentEvent>, ShippingError> {
            Ok(vec![
                ShipmentRecorded {
                    total: command.total,
                }
                .into(),
            ])
        }
    }

    /// Turns each `OrderPlaced` message into a keyed `RecordShipment` command.
    pub struct RecordShipments<S> {
        pub shipments: Repository<Shipments, S>,
    }

    #[annals::async_trait]
    impl<S: EventStore + SnapshotStore + Clone> MessageHandler for RecordShipments<S> {
        async fn handle(&self, message: &IncomingMessage) -> Result<(), HandlerError> {
            let placed: OrderPlacedV1 = message.json()?;
            let command = RecordShipment {
                order_id: placed.order_id,
                total: placed.total,
            };
            self.shipments
                .execute_once_with(&message.key(), command, message.caused_metadata())
                .await?;
            Ok(())
        }
    }
}
