//! The handle of a running relay: its status, how far it has published, waits, skips and
//! stopping.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::RelayStatus;
use super::shared::Shared;

/// A running relay.
#[derive(Debug)]
pub struct RelayHandle {
    pub(super) shared: Arc<Shared>,
    pub(super) task: tokio::task::JoinHandle<()>,
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
    /// acknowledged by the broker (or mapped to no message, or skipped).
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
    /// event that cannot be published (see [`RelayStatus::Failing`]).
    pub fn skip(&self, position: u64) {
        self.shared.skip(position);
    }

    /// Stops the relay and waits for its task to end. Messages sent and not yet
    /// acknowledged are sent again by the next relay of this publisher.
    pub async fn stop(self) {
        self.shared.stop.send_replace(true);
        let _ = self.task.await;
    }
}
