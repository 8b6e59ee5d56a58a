//! Dead letters: messages that failed for good, kept for an operator to replay or discard.

use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};
use uuid::Uuid;

use super::StoreError;

/// A message that failed for good: an event a relay could not publish (or one of its
/// stream's later events, parked behind it so the stream's order holds), or a message a
/// consumer gave up.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeadLetter {
    /// The letter's id.
    pub id: Uuid,
    /// Whose it is: `relay:{publisher}`, `consumer:{name}`.
    pub owner: String,
    /// A relay's letter: the event's position in the log.
    pub position: Option<u64>,
    /// A relay's letter: the event's stream.
    pub stream_id: Option<String>,
    /// A relay's letter: the event's id.
    pub event_id: Option<Uuid>,
    /// A consumer's letter: the message's id, when it reads.
    pub message_id: Option<Uuid>,
    /// A consumer's letter: where the message was received from.
    pub subject: Option<String>,
    /// A consumer's letter: the message as received.
    pub payload: Option<Vec<u8>>,
    /// A consumer's letter: its headers.
    pub headers: Vec<(String, String)>,
    /// Why it failed; for a parked event, the letter it waits behind.
    pub error: String,
    /// Whether it did not fail itself but waits behind an earlier letter of its stream.
    pub parked: bool,
    /// When it was recorded (to the microsecond).
    pub recorded_at: DateTime<Utc>,
}

impl DeadLetter {
    /// A relay's letter for the event at `position` of `stream_id`.
    pub fn event(
        owner: impl Into<String>,
        position: u64,
        stream_id: impl Into<String>,
        event_id: Uuid,
        error: impl Into<String>,
        parked: bool,
    ) -> Self {
        DeadLetter {
            id: Uuid::now_v7(),
            owner: owner.into(),
            position: Some(position),
            stream_id: Some(stream_id.into()),
            event_id: Some(event_id),
            message_id: None,
            subject: None,
            payload: None,
            headers: Vec::new(),
            error: error.into(),
            parked,
            recorded_at: now(),
        }
    }

    /// A consumer's letter for a message received on `subject`.
    pub fn message(
        owner: impl Into<String>,
        message_id: Option<Uuid>,
        subject: impl Into<String>,
        payload: Vec<u8>,
        headers: Vec<(String, String)>,
        error: impl Into<String>,
    ) -> Self {
        DeadLetter {
            id: Uuid::now_v7(),
            owner: owner.into(),
            position: None,
            stream_id: None,
            event_id: None,
            message_id,
            subject: Some(subject.into()),
            payload: Some(payload),
            headers,
            error: error.into(),
            parked: false,
            recorded_at: now(),
        }
    }
}

/// Dead letters, by owner.
///
/// A letter is recorded once: a second letter of one owner for the same position (a
/// relay's) or the same message id (a consumer's) is not added, so a worker that records a
/// letter and crashes before it moves on records nothing twice.
#[async_trait]
pub trait DeadLetterStore: Send + Sync + 'static {
    /// Records `letter`; `false`, and nothing written, when its owner has one for the same
    /// position or message id.
    async fn add_dead_letter(&self, letter: &DeadLetter) -> Result<bool, StoreError>;

    /// `owner`'s letters, oldest first: by position, then by when they were recorded.
    async fn dead_letters(&self, owner: &str) -> Result<Vec<DeadLetter>, StoreError>;

    /// Removes `owner`'s letter `id`; `false` when there is none.
    async fn remove_dead_letter(&self, owner: &str, id: Uuid) -> Result<bool, StoreError>;
}

/// Now, to the microsecond every store keeps.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}
