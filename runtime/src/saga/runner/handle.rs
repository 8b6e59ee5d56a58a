//! The handle of a running saga runner: its status, how far it has handled the log,
//! waits, the operators' view, and stopping.

use std::sync::Arc;
use std::time::Duration;

use super::Shared;
use crate::saga::{Saga, Sagas};
use crate::store::{EventStore, SagaStore};

/// What a saga runner is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SagaRunnerStatus {
    /// Reading its checkpoint.
    Starting,
    /// Handling events and instances.
    Running,
    /// The store failed; the runner tries again after a pause.
    Retrying {
        /// The last error.
        error: String,
        /// Failures in a row.
        attempts: u32,
    },
    /// An input event cannot be handled (it does not decode, or the saga's reaction
    /// fails or panics on it): the runner stops there and tries again after a pause,
    /// until a release fixes it (an upcaster, a fixed reaction) or an operator skips it
    /// ([`SagaRunnerHandle::skip`]). Instances on the same worker wait behind it.
    Failing(SagaInputFailure),
    /// Stopped.
    Stopped,
}

/// An input event a saga runner cannot handle: what an operator needs to decide on a
/// [`skip`](SagaRunnerHandle::skip).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SagaInputFailure {
    /// The saga's name.
    pub saga: &'static str,
    /// The event's global position.
    pub position: u64,
    /// Its stream.
    pub stream_id: String,
    /// Its stored type.
    pub event_type: String,
    /// What went wrong.
    pub message: String,
    /// Failures in a row.
    pub attempts: u32,
}

impl std::fmt::Display for SagaInputFailure {
    /// `saga `checkout` failing at position 42 (`checkout-7`, `CheckoutRequested`),
    /// attempt 3: ...`
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "saga `{}` failing at position {} (`{}`, `{}`), attempt {}: {}",
            self.saga, self.position, self.stream_id, self.event_type, self.attempts, self.message
        )
    }
}

/// A wait for a saga runner that did not end in time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "saga `{saga}` had not handled the log up to position {position} after {waited:?}: it is at {handled} ({status:?})"
)]
#[non_exhaustive]
pub struct SagaWaitError {
    /// The saga's name.
    pub saga: &'static str,
    /// The position waited for.
    pub position: u64,
    /// How far it had got.
    pub handled: u64,
    /// How long the wait lasted.
    pub waited: Duration,
    /// Its status then.
    pub status: SagaRunnerStatus,
}

/// A running saga runner.
pub struct SagaRunnerHandle<S, St> {
    pub(super) shared: Arc<Shared>,
    pub(super) tasks: Vec<tokio::task::JoinHandle<()>>,
    pub(super) store: St,
    pub(super) _saga: std::marker::PhantomData<fn() -> S>,
}

impl<S, St> std::fmt::Debug for SagaRunnerHandle<S, St> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SagaRunnerHandle")
            .field("status", &*self.shared.status.borrow())
            .field("handled", &*self.shared.handled.borrow())
            .finish_non_exhaustive()
    }
}

impl<S: Saga, St: EventStore + SagaStore + Clone> SagaRunnerHandle<S, St> {
    /// What the runner is doing.
    pub fn status(&self) -> SagaRunnerStatus {
        self.shared.status.borrow().clone()
    }

    /// The position up to which every event the saga consumes has been handled: its
    /// instance recorded its reaction and ran its plan as far as it could (to its end, to
    /// a wait for events or time, or to an operator).
    pub fn handled_through(&self) -> u64 {
        *self.shared.handled.borrow()
    }

    /// Waits until the consumed event at `position` (and every one before it) has been
    /// handled.
    pub async fn wait_for(&self, position: u64, timeout: Duration) -> Result<(), SagaWaitError> {
        let mut handled = self.shared.handled.subscribe();
        let reached = tokio::time::timeout(timeout, handled.wait_for(|at| *at >= position));
        match reached.await {
            Ok(Ok(_)) => Ok(()),
            _ => Err(SagaWaitError {
                saga: S::NAME,
                position,
                handled: self.handled_through(),
                waited: timeout,
                status: self.status(),
            }),
        }
    }

    /// Never hands the event at `position` to the saga (an operator's decision, after
    /// reading a [`Failing`](SagaRunnerStatus::Failing) status): the runner moves over it
    /// at once. For this runner only; a restarted runner must be told again if it has not
    /// moved its checkpoint past it.
    pub fn skip(&self, position: u64) {
        self.shared.skip(position);
    }

    /// The operators' view of the saga's instances, on the runner's store.
    pub fn sagas(&self) -> Sagas<S, St> {
        Sagas::new(self.store.clone())
    }

    /// Stops the runner and waits for its tasks to end. A step being performed is
    /// abandoned; the next runner performs it again under the same key.
    pub async fn stop(self) {
        self.shared.stop.send_replace(true);
        for task in self.tasks {
            task.abort();
            let _ = task.await;
        }
        self.shared.status.send_replace(SagaRunnerStatus::Stopped);
    }
}
