//! Messaging: the log as outbox. A [`Publisher`] maps the domain events it consumes to
//! public, versioned [`Message`]s; a [`Relay`] publishes them to a [`Broker`] after their
//! events commit, from a checkpoint of its own. On the other side, a [`Consumer`] hands
//! each message from a [`MessageSource`] to a [`MessageHandler`] and settles it after.
//!
//! Private domain events never leave: only the events a publisher consumes are read, and
//! only what its [`Publish`] handlers map them to is sent. Each message carries an id
//! derived from its event's id ([`message_id`]) and the event's envelope as headers
//! ([`headers`]): type and schema version, stream id and version, correlation and causation
//! ids.

mod broker;
mod consumer;
mod incoming;
mod message;
mod publisher;
mod relay;
mod source;
mod sql_inbox;

pub use self::broker::{Ack, Broker, BrokerError};
pub use self::consumer::{
    Consumer, ConsumerHandle, ConsumerOptions, ConsumerStatus, HandlerError, MessageHandler,
    ReplayError,
};
pub use self::incoming::IncomingMessage;
pub use self::message::{MappingError, Message, OutgoingMessage, headers, message_id};
pub use self::publisher::{Publish, Publisher};
pub use self::relay::{
    DeadLetterError, Relay, RelayFailure, RelayHandle, RelayOptions, RelayStatus, RelayWaitError,
};
pub use self::source::{Delivery, MessageSource, Settle};
pub use self::sql_inbox::{SqlInbox, SqlMessageHandler};

/// Derives [`Publisher`](trait@Publisher). See the trait for the attribute reference.
#[cfg(feature = "derive")]
pub use annals_macros::Publisher;

#[cfg(feature = "nats")]
pub mod nats;

#[cfg(feature = "rabbitmq")]
pub mod rabbitmq;
