//! Dead letters of a relay: an event that cannot be published goes to the dead-letter
//! store and parks its stream; the stream's later events wait there behind it, in order,
//! while other streams flow. An operator replays a stream's letters (in order, then the
//! stream flows again) or discards one.

use std::collections::HashMap;

use tokio::sync::oneshot;
use uuid::Uuid;

use super::task::{Relay, Trouble};
use crate::messaging::{Broker, OutgoingMessage, Publisher};
use crate::store::{CheckpointStore, DeadLetter, DeadLetterStore, EventStore, StoreError};

/// What an operator asks of a running relay.
pub(super) enum Request {
    Replay {
        stream_id: String,
        reply: oneshot::Sender<Result<usize, DeadLetterError>>,
    },
    Discard {
        letter: Uuid,
        reply: oneshot::Sender<Result<bool, DeadLetterError>>,
    },
}

/// Why an operator's replay or discard did not complete.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeadLetterError {
    /// The relay has stopped.
    #[error("the relay has stopped")]
    Stopped,
    /// A letter could not be published again: it and the stream's later ones stay parked.
    #[error("the event at position {position} still cannot be published: {message}")]
    StillFailing {
        /// The event's position.
        position: u64,
        /// Why.
        message: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The streams parked, each with the position of its first letter.
pub(super) type Parked = HashMap<String, u64>;

/// The parked streams of `owner`, from its letters.
pub(super) async fn parked_streams(
    store: &impl DeadLetterStore,
    owner: &str,
) -> Result<Parked, StoreError> {
    let mut parked = Parked::new();
    for letter in store.dead_letters(owner).await? {
        if let (Some(stream_id), Some(position)) = (letter.stream_id, letter.position) {
            parked.entry(stream_id).or_insert(position);
        }
    }
    Ok(parked)
}

impl<S, B, P> Relay<S, B, P>
where
    S: EventStore + CheckpointStore + DeadLetterStore,
    B: Broker,
    P: Publisher,
{
    /// The relay's name among dead-letter owners.
    pub(super) fn owner() -> String {
        format!("relay:{}", P::NAME)
    }

    /// Records the event at `position` as a dead letter. `parked`: not failed itself, but
    /// behind its stream's first letter; otherwise its stream is parked from here.
    pub(super) async fn dead_letter(
        &mut self,
        position: u64,
        stream_id: &str,
        event_id: Uuid,
        error: String,
    ) -> Result<(), Trouble> {
        let first = self.parked.get(stream_id).copied();
        let (error, parked) = match first {
            Some(first) => (
                format!("parked behind the dead letter at position {first} of its stream"),
                true,
            ),
            None => (error, false),
        };
        if parked {
            tracing::debug!(publisher = P::NAME, position, stream_id, "event parked");
        } else {
            tracing::warn!(publisher = P::NAME, position, stream_id, %error, "dead letter; stream parked");
        }
        let letter = DeadLetter::event(Self::owner(), position, stream_id, event_id, error, parked);
        self.store
            .add_dead_letter(&letter)
            .await
            .map_err(|e| Trouble::Unavailable(format!("the store failed: {e}")))?;
        self.parked.entry(stream_id.to_owned()).or_insert(position);
        Ok(())
    }

    /// Serves an operator's request.
    pub(super) async fn serve(&mut self, request: Request) {
        match request {
            Request::Replay { stream_id, reply } => {
                let _ = reply.send(self.replay(&stream_id).await);
            }
            Request::Discard { letter, reply } => {
                let _ = reply.send(self.discard(letter).await);
            }
        }
    }

    /// Publishes `stream_id`'s letters again, in order, each after the one before is
    /// acknowledged; when all are out the stream flows again. Stops at the first that still
    /// fails: it and the later ones stay.
    async fn replay(&mut self, stream_id: &str) -> Result<usize, DeadLetterError> {
        // Messages in flight go first: none is of this stream (it is parked).
        if let Err(Trouble::Unavailable(error) | Trouble::Failed { message: error, .. }) =
            self.receive_all().await
        {
            return Err(DeadLetterError::StillFailing {
                position: self.acked + 1,
                message: error,
            });
        }
        let letters: Vec<DeadLetter> = self
            .store
            .dead_letters(&Self::owner())
            .await?
            .into_iter()
            .filter(|letter| letter.stream_id.as_deref() == Some(stream_id))
            .collect();
        let mut published = 0;
        for letter in letters {
            let position = letter.position.unwrap_or_default();
            let still_failing =
                |message: String| DeadLetterError::StillFailing { position, message };
            let message = self.message_of(&letter).await?.map_err(still_failing)?;
            if let Some(message) = message {
                let ack = self
                    .broker
                    .send(message)
                    .await
                    .map_err(|e| still_failing(e.to_string()))?;
                ack.await.map_err(|e| still_failing(e.to_string()))?;
            }
            self.store
                .remove_dead_letter(&Self::owner(), letter.id)
                .await?;
            published += 1;
        }
        self.parked.remove(stream_id);
        tracing::info!(
            publisher = P::NAME,
            stream_id,
            published,
            "stream replayed; it flows again"
        );
        Ok(published)
    }

    /// The message `letter`'s event maps to now (or why it has none): the event is read
    /// again from the log.
    async fn message_of(
        &mut self,
        letter: &DeadLetter,
    ) -> Result<Result<Option<OutgoingMessage>, String>, StoreError> {
        let (Some(stream_id), Some(event_id)) = (&letter.stream_id, letter.event_id) else {
            return Ok(Err("the letter names no event".into()));
        };
        let located = self.store.locate_events(&[event_id]).await?;
        let Some(location) = located.first() else {
            return Ok(Err(format!("event {event_id} is not in the log")));
        };
        let mut events = self
            .store
            .read_stream(stream_id, location.stream_version, 1)
            .await?;
        let Some(event) = events.pop() else {
            return Ok(Err(format!("event {event_id} is not in the log")));
        };
        Ok(super::task::map(&self.publisher, &event))
    }

    /// Removes `letter`; when its stream has no letter left, the stream flows again.
    async fn discard(&mut self, letter: Uuid) -> Result<bool, DeadLetterError> {
        let owner = Self::owner();
        let letters = self.store.dead_letters(&owner).await?;
        let Some(stream_id) = letters
            .iter()
            .find(|l| l.id == letter)
            .map(|l| l.stream_id.clone())
        else {
            return Ok(false);
        };
        let removed = self.store.remove_dead_letter(&owner, letter).await?;
        if let Some(stream_id) = stream_id {
            let left = letters
                .iter()
                .any(|l| l.id != letter && l.stream_id.as_deref() == Some(stream_id.as_str()));
            if !left {
                self.parked.remove(&stream_id);
            }
        }
        Ok(removed)
    }
}
