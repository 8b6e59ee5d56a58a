//! Where a consumer receives messages from: one trait, one implementation per broker.

use std::time::Duration;

use async_trait::async_trait;

use super::{BrokerError, IncomingMessage};

/// A broker's queue of messages for one consumer (a JetStream durable pull consumer, a
/// RabbitMQ queue with manual acknowledgements).
#[async_trait]
pub trait MessageSource: Send + 'static {
    /// The next delivery, waiting for one.
    async fn next(&mut self) -> Result<Delivery, BrokerError>;
}

/// One delivery of a message: the message (or why it cannot be read), and how to settle it
/// with the broker.
pub struct Delivery {
    /// The message, or why its envelope does not read (no message id, say).
    pub message: Result<IncomingMessage, String>,
    /// Settles it.
    pub settle: Box<dyn Settle>,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("message", &self.message)
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
