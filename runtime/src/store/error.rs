//! How a store fails.

use std::error::Error as StdError;
use std::fmt;

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
    /// A stream id that the store cannot hold (empty, or with a NUL character).
    #[error("invalid stream id `{stream_id}`: {reason}")]
    InvalidStreamId {
        /// The rejected id.
        stream_id: String,
        /// Why it was rejected.
        reason: &'static str,
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

    /// Whether this is an optimistic concurrency conflict.
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::WrongExpectedVersion { .. })
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
