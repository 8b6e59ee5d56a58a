//! How a store fails.

use std::error::Error as StdError;
use std::fmt;

use uuid::Uuid;

use super::ExpectedVersion;

/// An event store failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
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
    /// A stream id that no store holds (empty, longer than
    /// [`MAX_STREAM_ID_BYTES`](super::MAX_STREAM_ID_BYTES), or with a NUL character).
    /// Nothing was written.
    #[error("invalid stream id `{stream_id}`: {reason}")]
    InvalidStreamId {
        /// The rejected id.
        stream_id: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// An event that no store holds (an empty or oversized type name, a NUL character in
    /// its type name, payload or metadata). Nothing of the append was written.
    #[error("invalid event {event_id} for stream `{stream_id}`: {reason}")]
    InvalidEvent {
        /// The stream appended to.
        stream_id: String,
        /// The rejected event.
        event_id: Uuid,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// An event id of the append is stored already, and not as a re-sent copy of this very
    /// append (same stream, same versions, same order): event ids are unique in a store.
    /// Nothing of the append was written.
    #[error(
        "event id {event_id} is stored already, as version {stream_version} of `{stored_in}`: event ids are unique"
    )]
    DuplicateEventId {
        /// The id.
        event_id: Uuid,
        /// The stream that holds it.
        stored_in: String,
        /// Its version there.
        stream_version: u64,
    },
    /// A stored row does not read back as an event (a column of the wrong type, an id of
    /// the wrong length, metadata that is not JSON): written by hand or by another program.
    /// The error names the row, so that a reader can be told to skip it.
    #[error(
        "stored event{}{} does not read: column `{column}`: {reason}",
        position.map(|position| format!(" at position {position}")).unwrap_or_default(),
        stream.as_ref().map(|(stream, version)| format!(" ({stream}@{version})")).unwrap_or_default()
    )]
    CorruptEvent {
        /// The row's global position, when it was read.
        position: Option<u64>,
        /// Its stream and version, when they read.
        stream: Option<(String, u64)>,
        /// The column that does not read.
        column: &'static str,
        /// Why.
        reason: String,
    },
    /// A stored snapshot does not read (a negative version, an id of the wrong length):
    /// written by hand or by another program. A load does not use it and replays the
    /// stream's events instead.
    #[error("the snapshot of `{stream_id}` does not read: column `{column}`: {reason}")]
    CorruptSnapshot {
        /// The snapshot's stream.
        stream_id: String,
        /// The column that does not read.
        column: &'static str,
        /// Why.
        reason: String,
    },
    /// A stored checkpoint does not read (a negative position): written by hand or by
    /// another program. Rebuild the projection, or set the checkpoint right.
    #[error("the checkpoint of projection `{projection}` does not read: {reason}")]
    CorruptCheckpoint {
        /// The checkpoint's key (`name@vN`).
        projection: String,
        /// Why.
        reason: String,
    },
    /// The backend could not be reached, or refused for now (a connection that failed
    /// before the request was sent, a busy database, a serialization failure): nothing was
    /// written, and the same call may succeed later.
    #[error("event store unavailable: {}", Chain(.0.as_ref()))]
    Unavailable(#[source] Box<dyn StdError + Send + Sync>),
    /// The connection broke while an append was in flight: it may or may not have
    /// committed. Appending the same events again (the same ids, see [`NewEvent`]) is safe:
    /// a store recognises a re-sent append and reports its first result, so retrying
    /// records the events once.
    ///
    /// [`NewEvent`]: super::NewEvent
    #[error(
        "the append to `{stream_id}` may or may not have committed (the connection broke while it was in flight); \
         re-send the same events to find out: {}",
        Chain(.source.as_ref())
    )]
    OutcomeUnknown {
        /// The stream appended to.
        stream_id: String,
        /// The ids of the events the append carried.
        event_ids: Vec<Uuid>,
        /// What broke.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
    /// An option the store was opened with cannot be used (a PostgreSQL schema name that
    /// could not be quoted safely, say). Nothing reached the database.
    #[error("invalid {option} `{value}`: {reason}")]
    InvalidOption {
        /// Which option (`schema`, ...).
        option: &'static str,
        /// The rejected value.
        value: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// The backend failed (connection, I/O, constraint, ...). The message carries the
    /// underlying cause, down to the database's own words.
    #[error("event store backend failed: {}", Chain(.0.as_ref()))]
    Backend(#[source] Box<dyn StdError + Send + Sync>),
}

impl StoreError {
    /// Wraps a backend's error.
    pub fn backend(error: impl StdError + Send + Sync + 'static) -> Self {
        StoreError::Backend(Box::new(error))
    }

    /// The global position of the stored row this error is about, when there is one: a
    /// row that does not read ([`CorruptEvent`](StoreError::CorruptEvent)).
    pub fn position(&self) -> Option<u64> {
        match self {
            StoreError::CorruptEvent { position, .. } => *position,
            _ => None,
        }
    }

    /// Whether this is an optimistic concurrency conflict.
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::WrongExpectedVersion { .. })
    }

    /// Whether the same call may succeed if made again: the store was
    /// [`Unavailable`](StoreError::Unavailable), or an append's outcome is
    /// [unknown](StoreError::OutcomeUnknown) (re-send the same events: a store recognises
    /// them). A conflict is not transient: decide again on the new state.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            StoreError::Unavailable(_) | StoreError::OutcomeUnknown { .. }
        )
    }

    /// A store that could not be reached, or refused for now.
    pub fn unavailable(error: impl StdError + Send + Sync + 'static) -> Self {
        StoreError::Unavailable(Box::new(error))
    }
}

/// An error and its causes, each cause once: drivers often print a summary ("db error")
/// and keep the database's message in their source.
struct Chain<'a>(&'a (dyn StdError + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut written = self.0.to_string();
        let mut cause = self.0.source();
        while let Some(error) = cause {
            let message = error.to_string();
            if !written.contains(&message) {
                written.push_str(": ");
                written.push_str(&message);
            }
            cause = error.source();
        }
        f.write_str(&written)
    }
}

#[cfg(test)]
mod tests {
    use super::StoreError;

    #[derive(Debug, thiserror::Error)]
    #[error("db error")]
    struct Summary(#[source] std::io::Error);

    #[test]
    fn a_backend_error_says_its_cause_once() {
        let error = StoreError::backend(Summary(std::io::Error::other(
            "database \"nope\" does not exist",
        )));
        assert_eq!(
            error.to_string(),
            "event store backend failed: db error: database \"nope\" does not exist"
        );
        let error = StoreError::backend(std::io::Error::other("disk full"));
        assert_eq!(error.to_string(), "event store backend failed: disk full");
    }
}
