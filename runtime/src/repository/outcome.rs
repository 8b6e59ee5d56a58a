//! What the repository hands back: loaded aggregates and command outcomes.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::store::Metadata;

/// An aggregate as loaded from the store.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded<A> {
    /// The state.
    pub state: A,
    /// The stream version the state includes (0 when the stream has no events).
    pub version: u64,
    /// The version of the snapshot the load started from, if one was used.
    pub snapshot_version: Option<u64>,
}

/// A recorded event, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope<E> {
    /// The event's global position.
    pub position: u64,
    /// The stream it belongs to.
    pub stream_id: String,
    /// Its version in the stream.
    pub stream_version: u64,
    /// Its id.
    pub event_id: Uuid,
    /// Correlation, causation and user key/values.
    pub metadata: Metadata,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
    /// The event.
    pub event: E,
}

/// What a command recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandOutcome<E> {
    /// The target stream.
    pub stream_id: String,
    /// The stream's version after the command.
    pub stream_version: u64,
    /// The global position of the last recorded event; `None` when the command recorded
    /// nothing. Wait for a read model to reach it for read-your-writes.
    pub position: Option<u64>,
    /// The recorded events.
    pub events: Vec<Envelope<E>>,
    /// Whether this is the outcome of an earlier execution with the same idempotency key
    /// ([`Repository::execute_once`](crate::Repository::execute_once)), read back from the
    /// store: this execution decided and appended nothing.
    pub replayed: bool,
}
