//! Brokers: where a relay publishes. One trait, one implementation per broker (NATS
//! JetStream, RabbitMQ), and room for a user's own (Kafka, ...).

use std::future::Future;
use std::pin::Pin;

use async_trait::async_trait;

use super::message::OutgoingMessage;

/// The broker's acknowledgement of one sent message, still to come: resolves once the
/// broker holds the message durably (a JetStream publish ack, a RabbitMQ publisher
/// confirm).
pub type Ack = Pin<Box<dyn Future<Output = Result<(), BrokerError>> + Send>>;

/// A message broker a [`Relay`](super::Relay) publishes to.
///
/// Publishing is in two steps so that a relay keeps many messages in flight and their
/// order intact: [`send`](Broker::send) hands a message to the broker's connection, in the
/// order of the calls, and returns its [`Ack`] to await later.
#[async_trait]
pub trait Broker: Send + Sync + 'static {
    /// Creates what the relay publishes into, or checks that it is there (a JetStream
    /// stream, a RabbitMQ exchange). Called when a relay starts.
    async fn prepare(&self) -> Result<(), BrokerError> {
        Ok(())
    }

    /// Sends `message`: when this returns, the message is queued on the connection behind
    /// every message sent before it.
    async fn send(&self, message: OutgoingMessage) -> Result<Ack, BrokerError>;
}

/// Why a broker did not take a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BrokerError {
    /// The broker could not be reached or did not answer in time: try again later. The
    /// message may or may not have reached it; its id lets the broker and the consumers
    /// recognise it if it did.
    #[error("the broker is unavailable: {0}")]
    Unavailable(String),
    /// The broker refused this message for good (larger than it takes, no destination for
    /// its subject, ...): sending it again fails again.
    #[error("the broker refused the message: {0}")]
    Rejected(String),
}

impl BrokerError {
    /// Whether sending the message again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, BrokerError::Unavailable(_))
    }
}
