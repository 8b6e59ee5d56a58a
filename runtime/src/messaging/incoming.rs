//! Messages as a consumer receives them: the public payload, and the envelope the relay
//! sent with it, read back from the headers.

use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::headers;
use super::message::MappingError;
use crate::store::Metadata;

/// A message as a consumer receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IncomingMessage {
    /// The message's id ([`headers::MESSAGE_ID`]): the same at every delivery and every
    /// publish of one event.
    pub id: Uuid,
    /// Where it was published.
    pub subject: String,
    /// The payload.
    pub payload: Vec<u8>,
    /// Every header sent with it.
    pub headers: Vec<(String, String)>,
    /// Which delivery of the message this is: 1 for the first.
    pub delivery: u32,
}

impl IncomingMessage {
    /// A message received with `headers`; `None` when they carry no message id (it was not
    /// sent by a relay, or its headers were lost).
    pub fn new(
        subject: String,
        payload: Vec<u8>,
        headers: Vec<(String, String)>,
        delivery: u32,
    ) -> Option<Self> {
        let id = headers
            .iter()
            .find(|(name, _)| name == headers::MESSAGE_ID)
            .and_then(|(_, value)| value.parse().ok())?;
        Some(IncomingMessage {
            id,
            subject,
            payload,
            headers,
            delivery,
        })
    }

    /// The value of header `name`, if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The public contract's name ([`headers::MESSAGE_TYPE`]).
    pub fn message_type(&self) -> Option<&str> {
        self.header(headers::MESSAGE_TYPE)
    }

    /// The public contract's version ([`headers::MESSAGE_VERSION`]).
    pub fn version(&self) -> Option<u32> {
        self.header(headers::MESSAGE_VERSION)?.parse().ok()
    }

    /// The id of the domain event the message was published for.
    pub fn event_id(&self) -> Option<Uuid> {
        self.uuid(headers::EVENT_ID)
    }

    /// The business transaction's correlation id, when the event had one.
    pub fn correlation_id(&self) -> Option<Uuid> {
        self.uuid(headers::CORRELATION_ID)
    }

    /// The payload, decoded from JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, MappingError> {
        Ok(serde_json::from_slice(&self.payload)?)
    }

    /// The metadata for what this message causes (a command it is turned into): the
    /// correlation id carried forward (the message's own id when it had none), and the
    /// triggering event's id (else the message's) as causation id.
    ///
    /// ```
    /// use annals::messaging::{IncomingMessage, headers};
    /// use annals::Uuid;
    ///
    /// let (id, event, correlation) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    /// let message = IncomingMessage::new("orders.placed".into(), b"{}".to_vec(), vec![
    ///     (headers::MESSAGE_ID.into(), id.to_string()),
    ///     (headers::EVENT_ID.into(), event.to_string()),
    ///     (headers::CORRELATION_ID.into(), correlation.to_string()),
    /// ], 1).unwrap();
    /// let caused = message.caused_metadata();
    /// assert_eq!((caused.correlation_id, caused.causation_id), (Some(correlation), Some(event)));
    /// ```
    pub fn caused_metadata(&self) -> Metadata {
        Metadata::default()
            .correlated_with(self.correlation_id().unwrap_or(self.id))
            .caused_by(self.event_id().unwrap_or(self.id))
    }

    /// The idempotency key for a command that answers this message, for
    /// [`Repository::execute_once_with`](crate::Repository::execute_once_with): the message's
    /// id, so a redelivered message's command is recorded once.
    pub fn key(&self) -> String {
        self.id.to_string()
    }

    fn uuid(&self, name: &str) -> Option<Uuid> {
        self.header(name)?.parse().ok()
    }
}
