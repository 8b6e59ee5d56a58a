//! The handle of a running relay: its status, how far it has published, waits, skips and
//! stopping.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::RelayStatus;
use super::parking::{DeadLetterError, Request};
use super::shared::Shared;
use crate::store::{DeadLetter, DeadLetterStore, StoreError};

/// A running relay.
pub struct RelayHandle {
    pub(super) shared: Arc<Shared>,
    pub(super) task: tokio::task::JoinHandle<()>,
    pub(super) requests: mpsc::UnboundedSender<Request>,
    pub(super) dead_letters: Arc<dyn DeadLetterStore>,
    pub(super) owner: String,
}

impl std::fmt::Debug for RelayHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayHandle")
            .field("publisher", &self.shared.publisher)
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}

/// A wait for a relay that did not end in time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "relay `{publisher}` had not published up to position {position} after {waited:?}: it is at {published} ({status:?})"
)]
#[non_exhaustive]
pub struct RelayWaitError {
    /// The publisher's name.
    pub publisher: &'static str,
    /// The position waited for.
    pub position: u64,
    /// How far it had got.
    pub published: u64,
    /// How long the wait lasted.
    pub waited: Duration,
    /// Its status then.
    pub status: RelayStatus,
}

impl RelayHandle {
    /// What the relay is doing.
    pub fn status(&self) -> RelayStatus {
        self.shared.status.borrow().clone()
    }

    /// The position up to which every event the publisher consumes has been published and
    /// acknowledged by the broker (or mapped to no message, or put in the dead letters, or
    /// skipped).
    pub fn published_through(&self) -> u64 {
        *self.shared.published.borrow()
    }

    /// Waits until every event up to `position` has been published and acknowledged.
    pub async fn wait_for(&self, position: u64, timeout: Duration) -> Result<(), RelayWaitError> {
        let mut published: watch::Receiver<u64> = self.shared.published.subscribe();
        let reached = tokio::time::timeout(timeout, published.wait_for(|at| *at >= position));
        match reached.await {
            Ok(Ok(_)) => Ok(()),
            _ => Err(RelayWaitError {
                publisher: self.shared.publisher,
                position,
                published: self.published_through(),
                waited: timeout,
                status: self.status(),
            }),
        }
    }

    /// Asks the relay to step over the event at `position` without publishing it: for an
    /// row of the log that does not read (see [`RelayStatus::Failing`]).
    pub fn skip(&self, position: u64) {
        self.shared.skip(position);
    }

    /// The relay's dead letters, oldest first: the events it could not publish, and the
    /// later events of their streams parked behind them (`parked`). Their streams wait
    /// until an operator replays them; other streams flow.
    pub async fn dead_letters(&self) -> Result<Vec<DeadLetter>, StoreError> {
        self.dead_letters.dead_letters(&self.owner).await
    }

    /// Publishes `stream_id`'s dead letters again, in order (after a fix to the mapping,
    /// the broker, the data), each once the one before is acknowledged; when all are out
    /// the stream flows again. Returns how many were published. At the first that still
    /// fails, stops: it and the later ones stay.
    pub async fn replay(&self, stream_id: &str) -> Result<usize, DeadLetterError> {
        let (reply, replied) = oneshot::channel();
        let request = Request::Replay {
            stream_id: stream_id.to_owned(),
            reply,
        };
        self.requests
            .send(request)
            .map_err(|_| DeadLetterError::Stopped)?;
        replied.await.map_err(|_| DeadLetterError::Stopped)?
    }

    /// Removes dead letter `letter` without publishing it; when its stream has no letter
    /// left, the stream flows again. `false` when there is no such letter.
    pub async fn discard(&self, letter: Uuid) -> Result<bool, DeadLetterError> {
        let (reply, replied) = oneshot::channel();
        self.requests
            .send(Request::Discard { letter, reply })
            .map_err(|_| DeadLetterError::Stopped)?;
        replied.await.map_err(|_| DeadLetterError::Stopped)?
    }

    /// Stops the relay and waits for its task to end. Messages sent and not yet
    /// acknowledged are sent again by the next relay of this publisher.
    pub async fn stop(self) {
        self.shared.stop.send_replace(true);
        let _ = self.task.await;
    }
}
