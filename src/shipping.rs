//! Messaging between two services. The orders service publishes public, versioned
//! messages mapped from its domain events ([`OrderMessages`]: `OrderPlaced` and
//! `OrderShipped` v1; payments and cancellations stay private). The shipping service, with
//! a database of its own, consumes them and keeps a [`Shipment`] per order
//! ([`ShippingInbox`]): each message becomes a command keyed by the message's id, so a
//! redelivered message is recorded once.

use annals::messaging::{
    HandlerError, IncomingMessage, MappingError, Message, MessageHandler, Publish, Publisher,
};
use annals::store::{EventStore, SnapshotStore};
use annals::{Aggregate, Apply, Command, Event, Handle, Recorded, Repository};
use serde::{Deserialize, Serialize};

use crate::orders::{OrderEvent, OrderLine, OrderPlaced, OrderShipped, total_cents};

// ---------------------------------------------------------------------------------------
// The public contract
// ---------------------------------------------------------------------------------------

/// The subject (NATS) or routing key (RabbitMQ) of placed orders.
pub const ORDER_PLACED: &str = "orders.placed.v1";
/// The subject or routing key of shipped orders.
pub const ORDER_SHIPPED: &str = "orders.shipped.v1";

/// `OrderPlaced` v1: what other services learn of a new order.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct OrderPlacedV1 {
    /// The order id.
    pub order_id: String,
    /// Who ordered.
    pub customer: String,
    /// How many items, all lines together.
    pub items: u32,
    /// The total, in cents.
    pub total_cents: i64,
}

/// `OrderShipped` v1.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct OrderShippedV1 {
    /// The order id.
    pub order_id: String,
    /// Who carries it.
    pub carrier: String,
    /// The carrier's tracking number.
    pub tracking: String,
}

/// The orders service's publisher: placed and shipped orders leave, nothing else.
#[derive(Publisher)]
#[publisher(name = "orders_public", events(OrderEvent::{OrderPlaced, OrderShipped}))]
pub struct OrderMessages;

fn order_id(stream_id: &str) -> String {
    stream_id.trim_start_matches("order-").to_owned()
}

fn items(lines: &[OrderLine]) -> u32 {
    lines.iter().map(|line| line.quantity).sum()
}

impl Publish<OrderPlaced> for OrderMessages {
    fn publish(&self, placed: Recorded<'_, OrderPlaced>) -> Result<Option<Message>, MappingError> {
        let public = OrderPlacedV1 {
            order_id: order_id(placed.stream_id),
            customer: placed.customer.clone(),
            items: items(&placed.lines),
            total_cents: total_cents(&placed.lines),
        };
        Ok(Some(Message::json(
            ORDER_PLACED,
            "OrderPlaced",
            1,
            &public,
        )?))
    }
}

impl Publish<OrderShipped> for OrderMessages {
    fn publish(
        &self,
        shipped: Recorded<'_, OrderShipped>,
    ) -> Result<Option<Message>, MappingError> {
        let public = OrderShippedV1 {
            order_id: order_id(shipped.stream_id),
            carrier: shipped.carrier.clone(),
            tracking: shipped.tracking.clone(),
        };
        Ok(Some(Message::json(
            ORDER_SHIPPED,
            "OrderShipped",
            1,
            &public,
        )?))
    }
}

// ---------------------------------------------------------------------------------------
// The shipping service
// ---------------------------------------------------------------------------------------

/// A parcel was asked for an order.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ParcelRequested {
    /// For whom.
    pub customer: String,
    /// How many items go in it.
    pub items: u32,
}

/// The parcel left with its carrier.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ParcelDispatched {
    /// Who carries it.
    pub carrier: String,
    /// The tracking number.
    pub tracking: String,
}

/// What happens to a shipment.
#[derive(Event, Clone, Debug, PartialEq, Eq)]
pub enum ShipmentEvent {
    /// [`ParcelRequested`].
    ParcelRequested(ParcelRequested),
    /// [`ParcelDispatched`].
    ParcelDispatched(ParcelDispatched),
}

/// Shipping never refuses what the orders service says happened.
#[derive(Debug, thiserror::Error)]
#[error("shipping refused: {0}")]
pub struct ShippingError(String);

/// The shipment of one order, in the shipping service's own database.
#[derive(Aggregate, Default, Clone, Debug, PartialEq, Eq)]
#[aggregate(event = ShipmentEvent, error = ShippingError, kind = "shipment")]
pub struct Shipment {
    /// For whom.
    pub customer: String,
    /// Items in the parcel.
    pub items: u32,
    /// Parcels asked for (1, however often the message came).
    pub requests: u32,
    /// The tracking number, once dispatched.
    pub tracking: Option<String>,
}

impl Apply<ParcelRequested> for Shipment {
    fn apply(&mut self, event: &ParcelRequested) {
        self.customer = event.customer.clone();
        self.items = event.items;
        self.requests += 1;
    }
}

impl Apply<ParcelDispatched> for Shipment {
    fn apply(&mut self, event: &ParcelDispatched) {
        self.tracking = Some(event.tracking.clone());
    }
}

/// Ask for a parcel.
#[derive(Command, Clone, Debug)]
#[command(aggregate = Shipment, expect = any)]
pub struct RequestParcel {
    /// The order id.
    #[id]
    pub order: String,
    /// For whom.
    pub customer: String,
    /// How many items.
    pub items: u32,
}

/// Record the parcel's dispatch.
#[derive(Command, Clone, Debug)]
#[command(aggregate = Shipment, expect = any)]
pub struct RecordDispatch {
    /// The order id.
    #[id]
    pub order: String,
    /// Who carries it.
    pub carrier: String,
    /// The tracking number.
    pub tracking: String,
}

impl Handle<RequestParcel> for Shipment {
    fn handle(&self, command: &RequestParcel) -> Result<Vec<ShipmentEvent>, ShippingError> {
        Ok(vec![
            ParcelRequested {
                customer: command.customer.clone(),
                items: command.items,
            }
            .into(),
        ])
    }
}

impl Handle<RecordDispatch> for Shipment {
    fn handle(&self, command: &RecordDispatch) -> Result<Vec<ShipmentEvent>, ShippingError> {
        Ok(vec![
            ParcelDispatched {
                carrier: command.carrier.clone(),
                tracking: command.tracking.clone(),
            }
            .into(),
        ])
    }
}

/// The shipping service's consumer of the orders messages: each becomes a command keyed by
/// the message's id (the inbox: a redelivered message records nothing twice), carrying the
/// correlation id and naming the order's event as its cause.
pub struct ShippingInbox<S> {
    /// The shipments, in shipping's own store.
    pub shipments: Repository<Shipment, S>,
}

#[annals::async_trait]
impl<S: EventStore + SnapshotStore + Clone> MessageHandler for ShippingInbox<S> {
    async fn handle(&self, message: &IncomingMessage) -> Result<(), HandlerError> {
        let (key, metadata) = (message.key(), message.caused_metadata());
        match (message.message_type(), message.version()) {
            (Some("OrderPlaced"), Some(1)) => {
                let placed: OrderPlacedV1 = message.json()?;
                let command = RequestParcel {
                    order: placed.order_id,
                    customer: placed.customer,
                    items: placed.items,
                };
                self.shipments
                    .execute_once_with(&key, command, metadata)
                    .await?;
            }
            (Some("OrderShipped"), Some(1)) => {
                let shipped: OrderShippedV1 = message.json()?;
                let command = RecordDispatch {
                    order: shipped.order_id,
                    carrier: shipped.carrier,
                    tracking: shipped.tracking,
                };
                self.shipments
                    .execute_once_with(&key, command, metadata)
                    .await?;
            }
            (message_type, version) => {
                return Err(format!("no handler for {message_type:?} version {version:?}").into());
            }
        }
        Ok(())
    }
}
