//! Public messages: what a publisher maps a domain event to, and the envelope the relay
//! adds before handing it to a broker.

use serde::Serialize;
use uuid::Uuid;

use crate::store::RecordedEvent;

/// Why an event could not be mapped to its public message: the payload did not serialize,
/// the event did not decode, or the mapping refused it. The relay does not publish it.
pub type MappingError = Box<dyn std::error::Error + Send + Sync>;

/// A public message, as a [`Publish`](super::Publish) handler maps a domain event to it:
/// where it goes, what it is (type and version of the public contract) and its payload.
///
/// ```
/// use annals::messaging::Message;
///
/// #[derive(serde::Serialize)]
/// struct OrderPlacedV1 { order_id: String, total_cents: i64 }
///
/// let message = Message::json("orders.placed", "OrderPlaced", 1, &OrderPlacedV1 {
///     order_id: "o-1".into(),
///     total_cents: 2_500,
/// })?
/// .with_header("tenant", "acme");
/// assert_eq!(message.subject, "orders.placed");
/// assert_eq!(message.payload, br#"{"order_id":"o-1","total_cents":2500}"#);
/// # Ok::<(), annals::messaging::MappingError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Message {
    /// Where it goes: the NATS subject, the RabbitMQ routing key.
    pub subject: String,
    /// The public contract's name (`OrderPlaced`), independent of the domain event's.
    pub message_type: String,
    /// The public contract's version: consumers decode by type and version.
    pub version: u32,
    /// The encoded payload.
    pub payload: Vec<u8>,
    /// Headers of the mapping's own, sent with the envelope's.
    pub headers: Vec<(String, String)>,
}

impl Message {
    /// A message with `payload` already encoded.
    pub fn new(
        subject: impl Into<String>,
        message_type: impl Into<String>,
        version: u32,
        payload: Vec<u8>,
    ) -> Self {
        Message {
            subject: subject.into(),
            message_type: message_type.into(),
            version,
            payload,
            headers: Vec::new(),
        }
    }

    /// A message whose payload is `payload` in JSON.
    pub fn json<T: Serialize + ?Sized>(
        subject: impl Into<String>,
        message_type: impl Into<String>,
        version: u32,
        payload: &T,
    ) -> Result<Self, MappingError> {
        Ok(Message::new(
            subject,
            message_type,
            version,
            serde_json::to_vec(payload)?,
        ))
    }

    /// Adds a header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// The names of the headers the relay sends with every message.
pub mod headers {
    /// The message's id, the same at every publish of one event by one publisher: brokers
    /// (JetStream's `Nats-Msg-Id`, RabbitMQ's `message-id` too) and consumers' inboxes
    /// deduplicate on it.
    pub const MESSAGE_ID: &str = "annals-message-id";
    /// The public contract's name.
    pub const MESSAGE_TYPE: &str = "annals-message-type";
    /// The public contract's version.
    pub const MESSAGE_VERSION: &str = "annals-message-version";
    /// The id of the domain event published.
    pub const EVENT_ID: &str = "annals-event-id";
    /// The domain event's stored type name.
    pub const EVENT_TYPE: &str = "annals-event-type";
    /// The domain event's schema version.
    pub const SCHEMA_VERSION: &str = "annals-schema-version";
    /// The stream the event belongs to.
    pub const STREAM_ID: &str = "annals-stream-id";
    /// The event's version in its stream.
    pub const STREAM_VERSION: &str = "annals-stream-version";
    /// The event's position in the log.
    pub const POSITION: &str = "annals-position";
    /// The business transaction's correlation id, when the event has one.
    pub const CORRELATION_ID: &str = "annals-correlation-id";
    /// The id of the message that caused the event, when it has one.
    pub const CAUSATION_ID: &str = "annals-causation-id";
}

/// A message with its envelope, as the relay hands it to a [`Broker`](super::Broker).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OutgoingMessage {
    /// The message's id: derived from the event's id and the publisher's name, so every
    /// publish of one event by one publisher carries the same id (see [`message_id`]).
    pub id: Uuid,
    /// Where it goes.
    pub subject: String,
    /// The encoded payload.
    pub payload: Vec<u8>,
    /// The envelope's headers ([`headers`]), then the mapping's own.
    pub headers: Vec<(String, String)>,
    /// The event's position in the log.
    pub position: u64,
}

impl OutgoingMessage {
    /// `message`, published by `publisher` for `event`, with its envelope.
    pub fn new(publisher: &str, event: &RecordedEvent, message: Message) -> Self {
        let id = message_id(publisher, event.event_id);
        let mut all = vec![
            (headers::MESSAGE_ID.to_owned(), id.to_string()),
            (headers::MESSAGE_TYPE.to_owned(), message.message_type),
            (
                headers::MESSAGE_VERSION.to_owned(),
                message.version.to_string(),
            ),
            (headers::EVENT_ID.to_owned(), event.event_id.to_string()),
            (headers::EVENT_TYPE.to_owned(), event.event_type.clone()),
            (
                headers::SCHEMA_VERSION.to_owned(),
                event.schema_version.to_string(),
            ),
            (headers::STREAM_ID.to_owned(), event.stream_id.clone()),
            (
                headers::STREAM_VERSION.to_owned(),
                event.stream_version.to_string(),
            ),
            (headers::POSITION.to_owned(), event.position.to_string()),
        ];
        let metadata = &event.metadata;
        if let Some(correlation) = metadata.correlation_id {
            all.push((headers::CORRELATION_ID.to_owned(), correlation.to_string()));
        }
        if let Some(causation) = metadata.causation_id {
            all.push((headers::CAUSATION_ID.to_owned(), causation.to_string()));
        }
        all.extend(message.headers);
        OutgoingMessage {
            id,
            subject: message.subject,
            payload: message.payload,
            headers: all,
            position: event.position,
        }
    }

    /// The value of header `name`, if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The id of the message `publisher` sends for the event `event_id`: a name-based UUID
/// (version 5) of the publisher's name in the event id's namespace. The same at every
/// publish, so a republished message is recognised; different per publisher, so two
/// publishers of one event into one broker stream are not taken for one message.
///
/// ```
/// use annals::{Uuid, messaging::message_id};
/// let event = Uuid::now_v7();
/// assert_eq!(message_id("orders", event), message_id("orders", event));
/// assert_ne!(message_id("orders", event), message_id("audit", event));
/// ```
pub fn message_id(publisher: &str, event_id: Uuid) -> Uuid {
    Uuid::new_v5(&event_id, publisher.as_bytes())
}
