//! What a relay is doing, as its handle reports it.

/// What a relay is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RelayStatus {
    /// Preparing the broker (creating or checking its stream or exchange).
    Starting,
    /// Publishing, or caught up and waiting for new events.
    Running,
    /// The broker is unavailable: the relay waits and sends again, from the first message
    /// not acknowledged. Nothing is lost; the broker and the consumers recognise what is
    /// sent twice by its id.
    Retrying {
        /// Why the last attempt failed.
        error: String,
        /// Failed attempts in a row.
        attempts: u32,
    },
    /// A row of the log does not read, so its event has no stream to park: the relay stops
    /// before it and tries again with backoff until the row is fixed or an operator skips
    /// it ([`RelayHandle::skip`](super::RelayHandle::skip)). (An event that reads but cannot
    /// be published becomes a dead letter instead, and only its stream waits.)
    Failing(RelayFailure),
    /// Stopped by its handle.
    Stopped,
}

/// An event a relay cannot publish.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("relay `{publisher}` cannot publish the event at position {position}: {message}")]
#[non_exhaustive]
pub struct RelayFailure {
    /// The publisher's name.
    pub publisher: &'static str,
    /// The event's position in the log.
    pub position: u64,
    /// Its stream, when the row could be read.
    pub stream_id: Option<String>,
    /// The cause.
    pub message: String,
    /// Failed attempts in a row.
    pub attempts: u32,
}
