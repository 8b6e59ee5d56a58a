//! Where a consumer receives messages from: one trait, one implementation per broker.

use std::time::Duration;

use async_trait::async_trait;

use super::{BrokerError, IncomingMessage};

/// A broker's queue of messages for one consumer (a JetStream durable pull consumer, a
/// RabbitMQ queue with manual acknowledgements).
#[async_trait]
pub trait MessageSource: Send + 'static {
    /// The consumer's name: its dead letters' owner is `consumer:{name}`.
    fn name(&self) -> String;

    /// The next delivery, waiting for one.
    async fn next(&mut self) -> Result<Delivery, BrokerError>;
}

/// One delivery of a message, as received, and how to settle it with the broker.
pub struct Delivery {
    /// Where it was published.
    pub subject: String,
    /// Its payload.
    pub payload: Vec<u8>,
    /// Its headers.
    pub headers: Vec<(String, String)>,
    /// Which delivery this is: 1 for the first.
    pub delivery: u32,
    /// Settles it.
    pub settle: Box<dyn Settle>,
}

impl Delivery {
    /// The message, or `None` when its envelope does not read (no message id).
    pub(crate) fn message(&self) -> Option<IncomingMessage> {
        IncomingMessage::new(
            self.subject.clone(),
            self.payload.clone(),
            self.headers.clone(),
            self.delivery,
        )
    }
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("subject", &self.subject)
            .field("delivery", &self.delivery)
            .finish_non_exhaustive()
    }
}

/// How a delivery is settled with its broker.
#[async_trait]
pub trait Settle: Send {
    /// Handled: never deliver it again.
    async fn ack(self: Box<Self>) -> Result<(), BrokerError>;
    /// Not handled: deliver it again after `delay`.
    async fn retry(self: Box<Self>, delay: Duration) -> Result<(), BrokerError>;
    /// Never to be handled: do not deliver it again.
    async fn reject(self: Box<Self>) -> Result<(), BrokerError>;
}
