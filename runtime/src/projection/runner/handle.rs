//! A running projection, seen from outside: its handle (operate it) and its readers
//! (query it, wait for it, watch it).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::task::JoinHandle;

use super::shared::Shared;
use super::{Lag, Status, WaitError, Waiting};
use crate::projection::Projection;
use crate::store::{EventFilter, EventStore, HiddenAppends, StoreError};

/// Queries a running projection's read model; cheap to clone.
pub struct ProjectionReader<P> {
    pub(super) shared: Arc<Shared<P>>,
    pub(super) filter: Arc<EventFilter>,
    pub(super) store: Arc<dyn StoreAccess>,
}

impl<P> Clone for ProjectionReader<P> {
    fn clone(&self) -> Self {
        ProjectionReader {
            shared: Arc::clone(&self.shared),
            filter: Arc::clone(&self.filter),
            store: Arc::clone(&self.store),
        }
    }
}

impl<P: Projection> ProjectionReader<P> {
    /// Runs `query` on the read model (under a read lock: keep it short).
    pub fn read<R>(&self, query: impl FnOnce(&P) -> R) -> R {
        query(&self.shared.tracked().projection)
    }

    /// The position of the last event handled (0: none yet).
    pub fn checkpoint(&self) -> u64 {
        self.shared.tracked().checkpoint
    }

    /// How many events the projection has handled since it started.
    pub fn handled(&self) -> u64 {
        self.shared.tracked().handled
    }

    /// What the projection is doing.
    pub fn status(&self) -> Status {
        self.shared.status.borrow().clone()
    }

    /// The checkpoint, the head of the log, and the lag in positions and in time.
    pub async fn lag(&self) -> Result<Lag, StoreError> {
        let checkpoint = self.checkpoint();
        let head = self.store.head_position().await?;
        let oldest_unhandled = self.store.first_after(checkpoint, &self.filter).await?;
        let events_behind = self.store.count_after(checkpoint, &self.filter).await?;
        let time_behind = oldest_unhandled
            .and_then(|at| (Utc::now() - at).to_std().ok())
            .unwrap_or(Duration::ZERO);
        Ok(Lag {
            waiting: match self.status() {
                Status::Waiting(waiting) => Some(waiting),
                _ => None,
            },
            checkpoint,
            head,
            positions_behind: head.saturating_sub(checkpoint),
            events_behind,
            time_behind,
        })
    }

    /// Waits until the projection has caught up with every event appended before this call
    /// (or `timeout` passes): [`wait_for`](Self::wait_for) without a position to name.
    pub async fn wait_caught_up(&self, timeout: Duration) -> Result<(), WaitError> {
        self.wait_for(0, timeout).await
    }

    /// Read-your-writes: waits until the projection has handled every event that was
    /// appended before this call (pass the position from a command's outcome, for the
    /// error message), or `timeout` passes.
    pub async fn wait_for(&self, position: u64, timeout: Duration) -> Result<(), WaitError> {
        let (started, deadline) = (Utc::now(), tokio::time::Instant::now() + timeout);
        let timed_out = |waiting: Option<Waiting>| {
            let status = self.status();
            WaitError::Timeout {
                projection: P::NAME,
                position,
                timeout,
                waiting: waiting.or(match &status {
                    Status::Waiting(waiting) => Some(waiting.clone()),
                    _ => None,
                }),
                failing: match status {
                    Status::Failing(failure) => Some(failure),
                    _ => None,
                },
            }
        };
        // A read that starts after every earlier append is visible, and comes back caught
        // up, has handled them all.
        if !self.store.wait_for_visible_appends(timeout).await? {
            let hidden = self.store.hidden_appends().await?;
            return Err(timed_out(hidden.map(|hidden| Waiting {
                hidden,
                since: started,
            })));
        }
        let mut caught_up = self.shared.caught_up.subscribe();
        let reads_before = self.shared.reads_started.load(Ordering::SeqCst);
        self.shared.wake.notify_one();
        loop {
            if *caught_up.borrow_and_update() > reads_before {
                return Ok(());
            }
            if matches!(*self.shared.status.borrow(), Status::Stopped) {
                return Err(WaitError::Stopped {
                    projection: P::NAME,
                });
            }
            match tokio::time::timeout_at(deadline, caught_up.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => {
                    return Err(WaitError::Stopped {
                        projection: P::NAME,
                    });
                }
                Err(_) => return Err(timed_out(None)),
            }
        }
    }
}

/// A running projection: query it, wait for it, watch its lag and status, operate it.
/// Dropping the handle leaves the projection running until the runtime shuts down; call
/// [`stop`](ProjectionHandle::stop) to stop it after its current batch.
pub struct ProjectionHandle<P> {
    pub(super) reader: ProjectionReader<P>,
    pub(super) task: JoinHandle<()>,
}

impl<P> std::ops::Deref for ProjectionHandle<P> {
    type Target = ProjectionReader<P>;

    fn deref(&self) -> &ProjectionReader<P> {
        &self.reader
    }
}

/// What a reader needs from the store (lag, read-your-writes), without the store's type.
#[async_trait::async_trait]
pub(super) trait StoreAccess: Send + Sync {
    async fn head_position(&self) -> Result<u64, StoreError>;
    async fn first_after(
        &self,
        after: u64,
        filter: &EventFilter,
    ) -> Result<Option<DateTime<Utc>>, StoreError>;
    async fn count_after(&self, after: u64, filter: &EventFilter) -> Result<u64, StoreError>;
    async fn wait_for_visible_appends(&self, timeout: Duration) -> Result<bool, StoreError>;
    async fn hidden_appends(&self) -> Result<Option<HiddenAppends>, StoreError>;
}

#[async_trait::async_trait]
impl<S: EventStore> StoreAccess for S {
    async fn head_position(&self) -> Result<u64, StoreError> {
        EventStore::head_position(self).await
    }

    async fn first_after(
        &self,
        after: u64,
        filter: &EventFilter,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(self
            .read_all(after, 1, filter)
            .await?
            .first()
            .map(|e| e.recorded_at))
    }

    async fn count_after(&self, after: u64, filter: &EventFilter) -> Result<u64, StoreError> {
        EventStore::count_after(self, after, filter).await
    }

    async fn wait_for_visible_appends(&self, timeout: Duration) -> Result<bool, StoreError> {
        EventStore::wait_for_visible_appends(self, timeout).await
    }

    async fn hidden_appends(&self) -> Result<Option<HiddenAppends>, StoreError> {
        EventStore::hidden_appends(self).await
    }
}

impl<P: Projection> ProjectionHandle<P> {
    /// A cheap, cloneable reader of this projection (for query handlers).
    pub fn reader(&self) -> ProjectionReader<P> {
        self.reader.clone()
    }

    /// Never applies the event at `position` (an operator's decision, after reading the
    /// [`status`](ProjectionReader::status) of a projection stuck on it): its handler does
    /// not run, on a rebuild either, and a row that does not read is stepped over. The
    /// runner retries at once.
    pub fn skip(&self, position: u64) {
        self.reader.shared.skip(position);
        self.reader.shared.wake.notify_one();
    }

    /// Retries a failing projection now instead of after its backoff.
    pub fn retry_now(&self) {
        self.reader.shared.wake.notify_one();
    }

    /// Rebuilds the read model from zero: `rebuilt` (usually `Default::default()`)
    /// replaces it (a SQL read model also runs [`SqlProjection::reset`](crate::projection::SqlProjection::reset)), the checkpoint
    /// goes back to 0, and the runner replays the log. Takes effect before the runner's
    /// next read; a [`wait_for`](ProjectionReader::wait_for) after this call sees the
    /// rebuilt model.
    pub fn rebuild(&self, rebuilt: P) {
        self.reader.shared.ask_rebuild(rebuilt, true);
        self.reader.shared.wake.notify_one();
    }

    /// Stops the projection after its current batch and waits for its task to end.
    pub async fn stop(self) {
        self.reader.shared.stop.send_replace(true);
        self.reader.shared.wake.notify_one();
        let _ = self.task.await;
        self.reader.shared.status.send_replace(Status::Stopped);
    }
}
