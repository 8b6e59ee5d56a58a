//! The event store: an append-only log of recorded events, per stream and in global order.
//!
//! Stores are adapters behind two small traits: [`EventStore`] (append and read) and
//! [`SnapshotStore`]. Every store passes the same conformance suite.

pub mod memory;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "sqlite")]
pub mod sqlite;

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use memory::InMemoryStore;
#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

/// The stream state an append requires (optimistic concurrency).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExpectedVersion {
    /// No check.
    Any,
    /// The stream must not exist (have no events).
    NoStream,
    /// The stream must exist.
    StreamExists,
    /// The stream's current version must be exactly this (`Exact(0)` means no stream).
    Exact(u64),
}

impl ExpectedVersion {
    /// The version this expectation pins the stream to (`NoStream` is 0), if it pins one.
    pub fn exact(self) -> Option<u64> {
        match self {
            ExpectedVersion::NoStream => Some(0),
            ExpectedVersion::Exact(version) => Some(version),
            ExpectedVersion::Any | ExpectedVersion::StreamExists => None,
        }
    }

    /// Whether a stream currently at `current` (0 = no stream) satisfies this expectation.
    pub fn accepts(self, current: u64) -> bool {
        match self {
            ExpectedVersion::Any => true,
            ExpectedVersion::NoStream => current == 0,
            ExpectedVersion::StreamExists => current > 0,
            ExpectedVersion::Exact(expected) => current == expected,
        }
    }
}

impl std::fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExpectedVersion::Any => f.write_str("any version"),
            ExpectedVersion::NoStream => f.write_str("no stream"),
            ExpectedVersion::StreamExists => f.write_str("an existing stream"),
            ExpectedVersion::Exact(v) => write!(f, "version {v}"),
        }
    }
}

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
    pub(crate) fn blank() -> Self {
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
            event_type: &self.event_type,
            schema_version: self.schema_version,
            payload: &self.payload,
        }
    }
}

/// An event of a stream borrowed from a store's buffers: what loading an aggregate needs,
/// and no more, without copying a string or a payload per event (see
/// [`EventStore::visit_stream`]). The whole record is [`RecordedEvent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventRef<'a> {
    /// Its version in the stream.
    pub stream_version: u64,
    /// The stable type name.
    pub event_type: &'a str,
    /// The schema version of `payload`.
    pub schema_version: u32,
    /// The payload, as JSON.
    pub payload: &'a [u8],
}

/// The callback of [`EventStore::visit_stream`]: sees each event in turn, and stops the
/// read by returning `ControlFlow::Break(())`.
pub type StreamVisitor<'v> = dyn FnMut(EventRef<'_>) -> std::ops::ControlFlow<()> + Send + 'v;

/// The callback of [`EventStore::visit_all`]: sees each recorded event in turn, borrowed,
/// and stops the read by returning `ControlFlow::Break(())`.
pub type LogVisitor<'v> = dyn FnMut(&RecordedEvent) -> std::ops::ControlFlow<()> + Send + 'v;

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

/// Which events a read of the global log returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    event_types: Option<Vec<String>>,
}

impl EventFilter {
    /// Every event.
    pub fn all() -> Self {
        EventFilter::default()
    }

    /// Only events whose type name is one of `types`.
    pub fn types<I, S>(types: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        EventFilter {
            event_types: Some(types.into_iter().map(Into::into).collect()),
        }
    }

    /// Only the events of the family `E` (every stored name, aliases included).
    pub fn events_of<E: crate::Event>() -> Self {
        EventFilter::types(E::STORED_NAMES.iter().copied())
    }

    /// The accepted type names, or `None` for every event.
    pub fn event_types(&self) -> Option<&[String]> {
        self.event_types.as_deref()
    }

    /// Whether an event of this type passes the filter.
    pub fn matches(&self, event_type: &str) -> bool {
        match &self.event_types {
            None => true,
            Some(types) => types.iter().any(|t| t == event_type),
        }
    }
}

/// A stored snapshot of one aggregate instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The stream the snapshot summarises.
    pub stream_id: String,
    /// The stream version the state includes.
    pub stream_version: u64,
    /// The aggregate's snapshot schema version.
    pub schema_version: u32,
    /// The encoded state.
    pub payload: Vec<u8>,
    /// When the snapshot was taken.
    pub taken_at: DateTime<Utc>,
}

/// An event store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The stream was not in the expected state (optimistic concurrency conflict).
    #[error("stream `{stream_id}` expected {expected}, but it is at version {actual}")]
    WrongExpectedVersion {
        /// The stream appended to.
        stream_id: String,
        /// What the append required.
        expected: ExpectedVersion,
        /// The stream's version when the append ran (0 = no stream).
        actual: u64,
    },
    /// An append with no events.
    #[error("an append to `{stream_id}` must contain at least one event")]
    EmptyAppend {
        /// The stream appended to.
        stream_id: String,
    },
    /// A stream id that the store cannot hold (empty, or longer than the store allows).
    #[error("invalid stream id `{stream_id}`: {reason}")]
    InvalidStreamId {
        /// The rejected id.
        stream_id: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A projection's stored checkpoint was not where its runner left it: another runner of
    /// the same projection moved it. Nothing was written.
    #[error(
        "the checkpoint of projection `{projection}` moved (expected {expected}): is another runner running it?"
    )]
    CheckpointMoved {
        /// The projection.
        projection: String,
        /// Where the runner expected it.
        expected: u64,
    },
    /// A PostgreSQL schema name that cannot be used safely.
    #[error("invalid schema name `{schema}`: {reason}")]
    InvalidSchemaName {
        /// The rejected name.
        schema: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// The backend failed (connection, I/O, constraint, ...).
    #[error("event store backend failed: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    /// Whether this is an optimistic concurrency conflict.
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::WrongExpectedVersion { .. })
    }
}

/// Rejects the stream ids a SQL store cannot hold: empty, or with a NUL character.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn validate_sql_stream_id(stream_id: &str) -> Result<(), StoreError> {
    let invalid = |reason| {
        Err(StoreError::InvalidStreamId {
            stream_id: stream_id.to_owned(),
            reason,
        })
    };
    if stream_id.is_empty() {
        return invalid("a stream id cannot be empty");
    }
    if stream_id.contains('\0') {
        return invalid("a stream id cannot contain a NUL character");
    }
    Ok(())
}

/// The append-only log of events.
#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Appends `events` to `stream_id` atomically, if the stream satisfies `expected`.
    ///
    /// Either every event is recorded, with consecutive stream versions, or none is.
    async fn append(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError>;

    /// Reads up to `max_count` events of `stream_id` with version ≥ `from_version`, in order.
    async fn read_stream(
        &self,
        stream_id: &str,
        from_version: u64,
        max_count: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Hands up to `max_count` events of `stream_id` with version ≥ `from_version`, in
    /// order, to `visitor`, borrowed from the store's buffers; stops early when the visitor
    /// breaks. Returns how many events the store read (so a result below `max_count` means
    /// the end of the stream was reached, unless the visitor broke).
    ///
    /// This is how aggregates load: no copy of a stream id, type name or payload per event.
    /// The default implementation goes through [`read_stream`](EventStore::read_stream).
    async fn visit_stream(
        &self,
        stream_id: &str,
        from_version: u64,
        max_count: usize,
        visitor: &mut StreamVisitor<'_>,
    ) -> Result<usize, StoreError> {
        let events = self.read_stream(stream_id, from_version, max_count).await?;
        for event in &events {
            if visitor(event.as_event_ref()).is_break() {
                break;
            }
        }
        Ok(events.len())
    }

    /// Reads up to `max_count` events of the global log that pass `filter` and come after the
    /// event at `after_position` in the store's order (0: from the start).
    ///
    /// The store's order is the order in which events become visible: a reader that resumes
    /// after the last event it handled never skips an event, even one whose transaction
    /// committed after a later-numbered one (PostgreSQL orders by transaction, then position;
    /// the single-writer stores by position). Positions in a batch therefore increase per
    /// stream, and globally on the single-writer stores.
    async fn read_all(
        &self,
        after_position: u64,
        max_count: usize,
        filter: &EventFilter,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// [`read_all`](EventStore::read_all) handing each event to `visitor`, borrowed where
    /// the store can (the in-memory store hands out its own records, copying nothing;
    /// SQLite and PostgreSQL fill one record per row in place, allocating nothing per
    /// event); stops early when the visitor breaks. Returns how many events the store read.
    /// The record is only valid during the call: a visitor that keeps it clones it.
    async fn visit_all(
        &self,
        after_position: u64,
        max_count: usize,
        filter: &EventFilter,
        visitor: &mut LogVisitor<'_>,
    ) -> Result<usize, StoreError> {
        let events = self.read_all(after_position, max_count, filter).await?;
        for event in &events {
            if visitor(event).is_break() {
                break;
            }
        }
        Ok(events.len())
    }

    /// How many events that pass `filter` come after the event at `after_position` in the
    /// store's order: what [`read_all`](EventStore::read_all) would return from there,
    /// counted (a projection's lag in events). The default implementation reads them.
    async fn count_after(
        &self,
        after_position: u64,
        filter: &EventFilter,
    ) -> Result<u64, StoreError> {
        const PAGE: usize = 1_000;
        let (mut after, mut count) = (after_position, 0);
        loop {
            let read = self
                .visit_all(after, PAGE, filter, &mut |event| {
                    after = event.position;
                    std::ops::ControlFlow::Continue(())
                })
                .await?;
            count += read as u64;
            if read < PAGE {
                return Ok(count);
            }
        }
    }

    /// Waits until every append that completed before this call is visible to
    /// [`read_all`](EventStore::read_all), or `timeout` passes; returns whether it is.
    ///
    /// Immediate on the single-writer stores. On PostgreSQL, an event becomes visible to
    /// `read_all` once every transaction that started before it has ended (that is what
    /// keeps readers from skipping late commits), so right after an append a concurrent
    /// writer's open transaction can hide it for a moment; this waits that moment out.
    async fn wait_for_visible_appends(
        &self,
        timeout: std::time::Duration,
    ) -> Result<bool, StoreError> {
        let _ = timeout;
        Ok(true)
    }

    /// Wake-ups for live readers: a receiver of the head position that changes after
    /// appends, or `None` when the store cannot tell (readers then poll). Values may be
    /// skipped; the log is the source of truth.
    fn subscribe(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        None
    }

    /// The current version of `stream_id` (0 when it has no events).
    async fn stream_version(&self, stream_id: &str) -> Result<u64, StoreError>;

    /// The position of the last event in the global log (0 when empty).
    async fn head_position(&self) -> Result<u64, StoreError>;
}

/// Storage for aggregate snapshots: the latest one per stream.
#[async_trait]
pub trait SnapshotStore: Send + Sync + 'static {
    /// The latest snapshot of `stream_id`, if any.
    async fn load_snapshot(&self, stream_id: &str) -> Result<Option<Snapshot>, StoreError>;
    /// Stores `snapshot`, replacing an older one of the same stream.
    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError>;
}
