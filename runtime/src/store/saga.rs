//! Open sagas: the instances a saga runner must look at again at a time of its own (a
//! deadline, a retry's pause), and those waiting for an operator.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;

/// One open saga instance that waits for time or for an operator.
///
/// The saga's stream is the truth (its deadlines are recorded in its events, in the same
/// append); this row only says when to look at it again. A runner writes it after the
/// saga's events and repairs it on every wake-up, so a row left behind by a crash only
/// makes a runner look early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenSaga {
    /// The saga's name (`Saga::NAME`).
    pub saga: String,
    /// The instance's id.
    pub instance: String,
    /// When a runner should look at it next; `None` while it waits for an operator.
    pub wake_at: Option<DateTime<Utc>>,
    /// Why it waits for an operator, when it does.
    pub stuck: Option<String>,
    /// When this row was written.
    pub updated_at: DateTime<Utc>,
}

/// A database that keeps the open sagas that wait for time or for an operator.
#[async_trait]
pub trait SagaStore: Send + Sync + 'static {
    /// Writes the row of `open.saga`/`open.instance`, replacing the one it had.
    async fn keep_open_saga(&self, open: &OpenSaga) -> Result<(), StoreError>;

    /// Removes the row of `saga`/`instance`, if any.
    async fn forget_open_saga(&self, saga: &str, instance: &str) -> Result<(), StoreError>;

    /// The rows of `saga`, by instance id.
    async fn open_sagas(&self, saga: &str) -> Result<Vec<OpenSaga>, StoreError>;

    /// Up to `limit` rows of `saga` whose `wake_at` is at or before `now`, soonest first.
    async fn due_sagas(
        &self,
        saga: &str,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OpenSaga>, StoreError>;
}
