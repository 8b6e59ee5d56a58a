//! What the log holds: events on their way in ([`NewEvent`]), recorded events
//! ([`RecordedEvent`], [`EventRef`]), their metadata, and what an append reports.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Metadata recorded with every event.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// Ties together every message of one business transaction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<Uuid>,
    /// The id of the message (command or event) that caused this event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<Uuid>,
    /// User key/values (tenant, user, request id, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, String>,
}

impl Metadata {
    /// Sets the correlation id.
    pub fn correlated_with(mut self, correlation_id: Uuid) -> Self {
        self.correlation_id = Some(correlation_id);
        self
    }

    /// Sets the causation id.
    pub fn caused_by(mut self, causation_id: Uuid) -> Self {
        self.causation_id = Some(causation_id);
        self
    }

    /// Adds a user key/value.
    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.extra.insert(key.into(), value.into());
        self
    }
}

/// An event about to be appended.
///
/// A domain event becomes one in one call, [`Event::to_new_event`](crate::Event::to_new_event);
/// [`NewEvent::new`] takes the stored form as it is (imports, tests of a store).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// A UUID v7, chosen by the writer so retries and inboxes can recognise the event.
    pub event_id: Uuid,
    /// The stable type name.
    pub event_type: String,
    /// The schema version of `payload`.
    pub schema_version: u32,
    /// The payload, as JSON.
    pub payload: Vec<u8>,
    /// Correlation, causation and user key/values.
    pub metadata: Metadata,
}

impl NewEvent {
    /// The event as a store records it: at `position`, as version `stream_version` of
    /// `stream_id`, at `recorded_at`.
    pub(crate) fn into_recorded(
        self,
        position: u64,
        stream_id: &str,
        stream_version: u64,
        recorded_at: DateTime<Utc>,
    ) -> RecordedEvent {
        RecordedEvent {
            position,
            stream_id: stream_id.to_owned(),
            stream_version,
            event_id: self.event_id,
            event_type: self.event_type,
            schema_version: self.schema_version,
            payload: self.payload,
            metadata: self.metadata,
            recorded_at,
        }
    }

    /// A new event with a fresh UUID v7 id.
    pub fn new(
        event_type: impl Into<String>,
        schema_version: u32,
        payload: Vec<u8>,
        metadata: Metadata,
    ) -> Self {
        NewEvent {
            event_id: Uuid::now_v7(),
            event_type: event_type.into(),
            schema_version,
            payload,
            metadata,
        }
    }
}

/// An event as the store recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedEvent {
    /// The store's total order, 1-based.
    pub position: u64,
    /// The stream the event belongs to.
    pub stream_id: String,
    /// The event's version in its stream: 1-based and gap-free.
    pub stream_version: u64,
    /// The id the writer gave the event.
    pub event_id: Uuid,
    /// The stable type name.
    pub event_type: String,
    /// The schema version of `payload`.
    pub schema_version: u32,
    /// The payload, as JSON.
    pub payload: Vec<u8>,
    /// Correlation, causation and user key/values.
    pub metadata: Metadata,
    /// When the store recorded the event.
    pub recorded_at: DateTime<Utc>,
}

impl RecordedEvent {
    /// An empty record, allocating nothing: what a store's reader fills row by row.
    pub fn blank() -> Self {
        RecordedEvent {
            position: 0,
            stream_id: String::new(),
            stream_version: 0,
            event_id: Uuid::nil(),
            event_type: String::new(),
            schema_version: 0,
            payload: Vec::new(),
            metadata: Metadata::default(),
            recorded_at: DateTime::<Utc>::MIN_UTC,
        }
    }

    /// The event as a borrowed [`EventRef`].
    pub fn as_event_ref(&self) -> EventRef<'_> {
        EventRef {
            stream_version: self.stream_version,
            event_id: Some(self.event_id),
            event_type: &self.event_type,
            schema_version: self.schema_version,
            payload: &self.payload,
        }
    }
}

/// An event of a stream borrowed from a store's buffers: what loading an aggregate needs,
/// and no more, without copying a string or a payload per event (see
/// [`EventStore::visit_stream`](super::EventStore::visit_stream)). The whole record is
/// [`RecordedEvent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventRef<'a> {
    /// Its version in the stream.
    pub stream_version: u64,
    /// Its id, where the store read it: always for the first event of a visit (the one
    /// at the version the visit starts from, which is what a snapshot is checked
    /// against); a store may leave the others out, sparing a column per row.
    pub event_id: Option<Uuid>,
    /// The stable type name.
    pub event_type: &'a str,
    /// The schema version of `payload`.
    pub schema_version: u32,
    /// The payload, as JSON.
    pub payload: &'a [u8],
}

/// What an append recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendResult {
    /// The stream's version after the append (the last appended event's version).
    pub stream_version: u64,
    /// The global position of each appended event, in order.
    pub positions: Vec<u64>,
    /// When the store recorded the events, at the precision the store keeps (microseconds on
    /// PostgreSQL), so it equals the `recorded_at` read back.
    pub recorded_at: DateTime<Utc>,
}

impl AppendResult {
    /// The global position of the last appended event (0 for an empty append).
    pub fn last_position(&self) -> u64 {
        self.positions.last().copied().unwrap_or(0)
    }
}
