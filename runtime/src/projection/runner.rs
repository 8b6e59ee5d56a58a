//! The projection runner: catch-up from the checkpoint in batches, then live tailing.
//!
//! Each projection runs in its own task. Its read model and its checkpoint (the position of
//! the last event it handled) sit behind one lock and change together, so a reader never
//! sees one without the other, and each event is applied exactly once. The task reads the
//! global log *after* the checkpoint, filtered to the projection's event types, a batch at a
//! time; once a read comes back short it has caught up, and it waits for the store's
//! wake-up ([`EventStore::subscribe`]), a poll interval, or a [`ProjectionReader::wait_for`].
//!
//! A failing event (one that does not decode) stops that projection only: its checkpoint
//! stays before the event, the failure is recorded ([`ProjectionReader::status`]), and the
//! runner retries with exponential backoff until the data is fixed or an operator skips the
//! event ([`ProjectionHandle::skip`]).

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use super::Projection;
use super::external::{CheckpointStore, ExternalProjection, ReadModelError};
use super::sql::{SqlProjection, SqlTarget};
use crate::store::RecordedEvent;
use crate::store::{EventFilter, EventStore, StoreError};

/// How a runner reads and waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunnerOptions {
    /// Events read per round trip.
    pub batch_size: usize,
    /// How long a caught-up runner waits for a wake-up before it reads again anyway (the
    /// only way to see appends by other processes on stores without notifications).
    pub poll_interval: Duration,
    /// The first pause after a failure; doubled after each further failure.
    pub initial_backoff: Duration,
    /// The longest pause after a failure.
    pub max_backoff: Duration,
}

impl Default for RunnerOptions {
    /// Batches of 1,000; a poll every 250 ms; backoff from 10 ms to 5 s.
    fn default() -> Self {
        RunnerOptions {
            batch_size: 1_000,
            poll_interval: Duration::from_millis(250),
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_secs(5),
        }
    }
}

/// Starts projections over one store.
///
/// ```
/// # use std::collections::HashMap;
/// # use annals::{Event, Project, Projection, Recorded};
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
/// # struct Deposited { amount: i64 }
/// # #[derive(Event, Clone, Debug, PartialEq)]
/// # enum AccountEvent { Deposited(Deposited) }
/// # #[derive(Projection, Default)]
/// # #[projection(name = "totals", events(AccountEvent))]
/// # struct Totals { total: i64 }
/// # impl Project<Deposited> for Totals {
/// #     fn project(&mut self, deposit: Recorded<'_, Deposited>) { self.total += deposit.amount }
/// # }
/// use annals::projection::ProjectionRunner;
/// use annals::{EventStore, ExpectedVersion, InMemoryStore, Metadata, NewEvent};
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = InMemoryStore::new();
/// let totals = ProjectionRunner::new(store.clone()).spawn(Totals::default());
///
/// let deposit = NewEvent::new("Deposited", 1, br#"{"amount":5}"#.to_vec(), Metadata::default());
/// let appended = store.append("account-1", ExpectedVersion::Any, vec![deposit]).await?;
///
/// // Read your writes: wait until the projection has handled the append.
/// totals.wait_for(appended.last_position(), Duration::from_secs(5)).await?;
/// assert_eq!(totals.read(|t| t.total), 5);
/// totals.stop().await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ProjectionRunner<S> {
    store: S,
    options: RunnerOptions,
    /// The status of every projection this runner (or a clone) started: the operator's view.
    started: Arc<std::sync::Mutex<Vec<Started>>>,
}

/// A started projection's name and status, as its runner keeps them.
type Started = (&'static str, watch::Receiver<Status>);

impl<S> std::fmt::Debug for ProjectionRunner<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProjectionRunner")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl<S: EventStore + Clone> ProjectionRunner<S> {
    /// A runner over `store` with the default options.
    pub fn new(store: S) -> Self {
        ProjectionRunner {
            store,
            options: RunnerOptions::default(),
            started: Default::default(),
        }
    }

    /// Sets the options.
    pub fn with_options(mut self, options: RunnerOptions) -> Self {
        self.options = options;
        self
    }

    /// Starts `projection` from the beginning of the log, in a task of its own.
    pub fn spawn<P: Projection>(&self, projection: P) -> ProjectionHandle<P> {
        self.spawn_from(projection, 0)
    }

    /// Starts `projection` with a read model that already includes every event up to the
    /// event at `checkpoint` (a restored read model, or 0 for the beginning).
    pub fn spawn_from<P: Projection>(&self, projection: P, checkpoint: u64) -> ProjectionHandle<P> {
        let shared = Shared::new(projection, checkpoint);
        self.start(shared, MemorySink)
    }

    /// The name and status of every projection started by this runner (or a clone of it),
    /// stopped ones included: what an operator lists.
    pub fn statuses(&self) -> Vec<(&'static str, Status)> {
        let started = self.started.lock().unwrap_or_else(PoisonError::into_inner);
        started
            .iter()
            .map(|(name, status)| (*name, status.borrow().clone()))
            .collect()
    }

    /// The projections that are failing, with why: an operator then skips the event or
    /// retries through the projection's handle.
    pub fn failing(&self) -> Vec<ProjectionFailure> {
        self.statuses()
            .into_iter()
            .filter_map(|(_, status)| match status {
                Status::Failing(failure) => Some(failure),
                _ => None,
            })
            .collect()
    }

    fn start<P: Projection, K: Sink<P>>(
        &self,
        shared: Arc<Shared<P>>,
        sink: K,
    ) -> ProjectionHandle<P> {
        self.started
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((P::NAME, shared.status.subscribe()));
        let task = tokio::spawn(run(
            self.store.clone(),
            self.options,
            Arc::clone(&shared),
            sink,
        ));
        let reader = ProjectionReader {
            shared,
            filter: Arc::new(EventFilter::types(P::event_types())),
            store: Arc::new(self.store.clone()),
        };
        ProjectionHandle { reader, task }
    }
}

impl<S: EventStore + CheckpointStore + Clone> ProjectionRunner<S> {
    /// Starts a read model kept in a store of its own ([`ExternalProjection`]): resumes
    /// from the checkpoint kept in this store, delivers each event at least once, and
    /// skips the events the read model's inbox already holds, so a handler never sees an
    /// event twice.
    pub async fn spawn_external<P: ExternalProjection>(
        &self,
        projection: P,
    ) -> Result<ProjectionHandle<P>, StoreError> {
        let checkpoint = self.store.checkpoint(&P::checkpoint_key()).await?;
        let shared = Shared::new(projection, checkpoint);
        Ok(self.start(shared, ExternalSink(self.store.clone())))
    }
}

impl<S: EventStore + SqlTarget + Clone> ProjectionRunner<S> {
    /// Starts a SQL read model in the store's own database: creates its tables
    /// ([`SqlProjection::setup`]), resumes from its stored checkpoint, and commits each
    /// batch's statements with the checkpoint in one transaction (exactly once).
    pub async fn spawn_sql<P: SqlProjection>(
        &self,
        projection: P,
    ) -> Result<ProjectionHandle<P>, StoreError> {
        self.store.prepare_read_model(&P::setup()).await?;
        let checkpoint = self.store.checkpoint(&P::checkpoint_key()).await?;
        let shared = Shared::new(projection, checkpoint);
        Ok(self.start(shared, SqlSink::new(self.store.clone())))
    }
}

/// What a projection is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// It has not finished its first read yet.
    Starting,
    /// It is reading or waiting for new events.
    Running,
    /// It stopped at an event, or the store failed; it retries with backoff.
    Failing(ProjectionFailure),
    /// It was stopped.
    Stopped,
}

/// Why a projection is stuck.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectionFailure {
    /// The projection's name.
    pub projection: &'static str,
    /// The global position of the event it cannot handle (`None`: the store failed).
    pub position: Option<u64>,
    /// That event's stream and type, when there is one.
    pub event: Option<(String, String)>,
    /// What went wrong.
    pub message: String,
    /// How many times in a row it has failed.
    pub attempts: u32,
}

/// How far a projection is behind the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lag {
    /// The position of the last event the projection handled (0: none yet).
    pub checkpoint: u64,
    /// The position of the last event in the log.
    pub head: u64,
    /// Positions of the log between the checkpoint and the head: events of every type
    /// (and, on PostgreSQL, numbers that rolled-back appends used), so a filtered projection
    /// that has caught up may show some. Free to compute.
    pub positions_behind: u64,
    /// Events the projection consumes that the store holds after its checkpoint and it has
    /// not handled yet: its lag in events, counted by the store.
    pub events_behind: u64,
    /// How long ago the oldest event the projection consumes but has not handled was
    /// recorded (zero when it has handled all of them).
    pub time_behind: Duration,
}

/// A read-your-writes wait that did not complete.
#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    /// The projection did not get there in time.
    #[error(
        "projection `{projection}` did not reach position {position} within {timeout:?}{}",
        failing.as_ref().map(|f| format!(" (it is failing: {})", f.message)).unwrap_or_default()
    )]
    Timeout {
        /// The projection.
        projection: &'static str,
        /// The position waited for.
        position: u64,
        /// The time allowed.
        timeout: Duration,
        /// Why the projection is stuck, if it is failing.
        failing: Option<ProjectionFailure>,
    },
    /// The projection is stopped.
    #[error("projection `{projection}` is stopped")]
    Stopped {
        /// The projection.
        projection: &'static str,
    },
    /// The store failed while checking.
    #[error(transparent)]
    Store(#[from] StoreError),
}

struct Tracked<P> {
    projection: P,
    /// The position of the last event handled.
    checkpoint: u64,
    /// Events handled since the start.
    handled: u64,
}

struct Shared<P> {
    tracked: RwLock<Tracked<P>>,
    /// Reads started so far; each read gets the next number.
    reads_started: AtomicU64,
    /// The number of the last read that came back short (caught up) and was applied.
    caught_up: watch::Sender<u64>,
    status: watch::Sender<Status>,
    wake: Notify,
    stop: watch::Sender<bool>,
    /// An event position the operator asked to skip.
    skip: RwLock<Option<u64>>,
    /// A rebuild the operator asked for: the empty read model to start again from.
    rebuild: std::sync::Mutex<Option<P>>,
}

impl<P> Shared<P> {
    /// The state of a projection about to start with `projection` at `checkpoint`.
    fn new(projection: P, checkpoint: u64) -> Arc<Self> {
        Arc::new(Shared {
            tracked: RwLock::new(Tracked {
                projection,
                checkpoint,
                handled: 0,
            }),
            reads_started: AtomicU64::new(0),
            caught_up: watch::channel(0).0,
            status: watch::channel(Status::Starting).0,
            wake: Notify::new(),
            stop: watch::channel(false).0,
            skip: RwLock::new(None),
            rebuild: std::sync::Mutex::new(None),
        })
    }

    /// Starts the read model again from `projection`, at checkpoint 0.
    fn restart(&self, projection: P) {
        *self.tracked.write().unwrap_or_else(PoisonError::into_inner) = Tracked {
            projection,
            checkpoint: 0,
            handled: 0,
        };
    }

    fn tracked(&self) -> RwLockReadGuard<'_, Tracked<P>> {
        self.tracked.read().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Queries a running projection's read model; cheap to clone.
pub struct ProjectionReader<P> {
    shared: Arc<Shared<P>>,
    filter: Arc<EventFilter>,
    store: Arc<dyn StoreAccess>,
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
        let deadline = tokio::time::Instant::now() + timeout;
        let timed_out = || WaitError::Timeout {
            projection: P::NAME,
            position,
            timeout,
            failing: match self.status() {
                Status::Failing(failure) => Some(failure),
                _ => None,
            },
        };
        // A read that starts after every earlier append is visible, and comes back caught
        // up, has handled them all.
        if !self.store.wait_for_visible_appends(timeout).await? {
            return Err(timed_out());
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
                Err(_) => return Err(timed_out()),
            }
        }
    }
}

/// A running projection: query it, wait for it, watch its lag and status, operate it.
/// Dropping the handle leaves the projection running until the runtime shuts down; call
/// [`stop`](ProjectionHandle::stop) to stop it after its current batch.
pub struct ProjectionHandle<P> {
    reader: ProjectionReader<P>,
    task: JoinHandle<()>,
}

impl<P> std::ops::Deref for ProjectionHandle<P> {
    type Target = ProjectionReader<P>;

    fn deref(&self) -> &ProjectionReader<P> {
        &self.reader
    }
}

/// What a reader needs from the store (lag, read-your-writes), without the store's type.
#[async_trait::async_trait]
trait StoreAccess: Send + Sync {
    async fn head_position(&self) -> Result<u64, StoreError>;
    async fn first_after(
        &self,
        after: u64,
        filter: &EventFilter,
    ) -> Result<Option<DateTime<Utc>>, StoreError>;
    async fn count_after(&self, after: u64, filter: &EventFilter) -> Result<u64, StoreError>;
    async fn wait_for_visible_appends(&self, timeout: Duration) -> Result<bool, StoreError>;
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
}

impl<P: Projection> ProjectionHandle<P> {
    /// A cheap, cloneable reader of this projection (for query handlers).
    pub fn reader(&self) -> ProjectionReader<P> {
        self.reader.clone()
    }

    /// Skips the event at `position` if the projection is stuck on it (an operator's
    /// decision, after reading [`status`](ProjectionReader::status)); the runner retries at
    /// once.
    pub fn skip(&self, position: u64) {
        *self
            .reader
            .shared
            .skip
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(position);
        self.reader.shared.wake.notify_one();
    }

    /// Retries a failing projection now instead of after its backoff.
    pub fn retry_now(&self) {
        self.reader.shared.wake.notify_one();
    }

    /// Rebuilds the read model from zero: `rebuilt` (usually `Default::default()`)
    /// replaces it (a SQL read model also runs [`SqlProjection::reset`]), the checkpoint
    /// goes back to 0, and the runner replays the log. Takes effect before the runner's
    /// next read; a [`wait_for`](ProjectionReader::wait_for) after this call sees the
    /// rebuilt model.
    pub fn rebuild(&self, rebuilt: P) {
        *self
            .reader
            .shared
            .rebuild
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(rebuilt);
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

/// The runner's task.
async fn run<S: EventStore, P: Projection, K: Sink<P>>(
    store: S,
    options: RunnerOptions,
    shared: Arc<Shared<P>>,
    sink: K,
) {
    let filter = EventFilter::types(P::event_types());
    let mut notifications = store.subscribe();
    let mut stop = shared.stop.subscribe();
    let mut failures: u32 = 0;
    let batch_size = options.batch_size.max(1);
    loop {
        if *stop.borrow() {
            break;
        }
        let pending_rebuild = shared
            .rebuild
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let rebuilt = match pending_rebuild {
            None => Ok(()),
            Some(rebuilt) => sink
                .rebuild(&shared, rebuilt)
                .await
                .map_err(|(error, rebuilt)| {
                    // Kept for the next attempt, unless a newer rebuild was asked for meanwhile.
                    shared
                        .rebuild
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .get_or_insert(rebuilt);
                    failure::<P>(None, format!("rebuild failed: {error}"))
                }),
        };
        let outcome = match rebuilt {
            Err(failure) => Err(failure),
            Ok(()) => {
                let read_number = shared.reads_started.fetch_add(1, Ordering::SeqCst) + 1;
                let after = shared.tracked().checkpoint;
                // Stopping does not wait for a slow read: nothing of an unfinished read has
                // been applied (a read model in memory applies without awaiting; a SQL batch
                // commits whole or not at all; a flushed external batch is in the read
                // model's inbox).
                tokio::select! {
                    outcome = sink.read_apply(&store, &shared, after, batch_size, &filter) => {
                        outcome.map(|read| (read, read_number))
                    }
                    _ = stop.changed() => break,
                }
            }
        };
        match outcome {
            Ok((read, read_number)) => {
                failures = 0;
                shared.status.send_if_modified(|status| {
                    let changed = *status != Status::Running;
                    *status = Status::Running;
                    changed
                });
                if read == batch_size {
                    // Catching up: let other tasks on this worker run between batches.
                    tokio::task::yield_now().await;
                    continue;
                }
                shared.caught_up.send_replace(read_number);
                let woken = tokio::select! {
                    () = shared.wake.notified() => true,
                    () = changed(&mut notifications) => true,
                    () = tokio::time::sleep(options.poll_interval) => false,
                    _ = stop.changed() => false,
                };
                if woken {
                    // On PostgreSQL a notified append stays invisible to the log's readers
                    // while an older transaction anywhere on the server is open; a read
                    // now would come back short and then wait for a notification that has
                    // already come. (Immediate on the single-writer stores.)
                    tokio::select! {
                        visible = store.wait_for_visible_appends(options.poll_interval) => {
                            if let Err(error) = visible {
                                tracing::debug!(projection = P::NAME, %error, "waiting for visible appends failed");
                            }
                        }
                        _ = stop.changed() => {}
                    }
                }
            }
            Err(mut failure) => {
                failures += 1;
                failure.attempts = failures;
                tracing::warn!(projection = P::NAME, position = ?failure.position, message = %failure.message, attempts = failures, "projection failing");
                shared.status.send_replace(Status::Failing(failure));
                let pause = options
                    .initial_backoff
                    .saturating_mul(1 << (failures - 1).min(16))
                    .min(options.max_backoff);
                tokio::select! {
                    () = shared.wake.notified() => {}
                    () = tokio::time::sleep(pause) => {}
                    _ = stop.changed() => {}
                }
            }
        }
    }
    shared.status.send_replace(Status::Stopped);
}

/// Where a projection's batches go: its read model in memory, or SQL tables.
#[async_trait::async_trait]
trait Sink<P>: Send + Sync + 'static {
    /// Starts the read model again from `rebuilt`, at checkpoint 0; hands `rebuilt` back
    /// when it could not.
    async fn rebuild(&self, shared: &Shared<P>, rebuilt: P) -> Result<(), (StoreError, P)>;
    /// Reads a batch after `after` and applies it, moving the checkpoint with it; returns
    /// how many events were read.
    async fn read_apply<S: EventStore>(
        &self,
        store: &S,
        shared: &Shared<P>,
        after: u64,
        batch_size: usize,
        filter: &EventFilter,
    ) -> Result<usize, ProjectionFailure>
    where
        P: Projection;
}

/// The read model in memory: applied event by event under the lock that also holds the
/// checkpoint.
struct MemorySink;

#[async_trait::async_trait]
impl<P: Projection> Sink<P> for MemorySink {
    /// Applies each event as the store hands it over, borrowed: no copy of a record (the
    /// in-memory store's own records), and the checkpoint moves with each event.
    async fn read_apply<S: EventStore>(
        &self,
        store: &S,
        shared: &Shared<P>,
        after: u64,
        batch_size: usize,
        filter: &EventFilter,
    ) -> Result<usize, ProjectionFailure> {
        let mut cursor = after;
        let mut stopped_at = None;
        let mut visitor = |recorded: &RecordedEvent| {
            let mut tracked = shared
                .tracked
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            if tracked.checkpoint != cursor {
                return ControlFlow::Break(()); // rebuilt meanwhile: the rest is the old model's
            }
            let (handled, failure) = project_batch(
                shared,
                &mut tracked.projection,
                std::slice::from_ref(recorded),
            );
            if failure.is_some() {
                stopped_at = failure;
                return ControlFlow::Break(());
            }
            tracked.checkpoint = recorded.position;
            tracked.handled += handled as u64;
            cursor = recorded.position;
            ControlFlow::Continue(())
        };
        let read = store
            .visit_all(after, batch_size, filter, &mut visitor)
            .await
            .map_err(|error| failure::<P>(None, error.to_string()))?;
        stopped_at.map_or(Ok(read), Err)
    }

    async fn rebuild(&self, shared: &Shared<P>, rebuilt: P) -> Result<(), (StoreError, P)> {
        shared.restart(rebuilt);
        Ok(())
    }
}

/// The read model in SQL tables: each batch's statements and the checkpoint commit in one
/// transaction of the store's database.
struct SqlSink<T> {
    target: T,
    /// Whether this version's views are published (it has caught up once).
    published: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl<P: SqlProjection, T: SqlTarget> Sink<P> for SqlSink<T> {
    async fn rebuild(&self, shared: &Shared<P>, rebuilt: P) -> Result<(), (StoreError, P)> {
        match self
            .target
            .reset_projection(&P::checkpoint_key(), &P::reset())
            .await
        {
            Ok(()) => {
                shared.restart(rebuilt);
                Ok(())
            }
            Err(error) => Err((error, rebuilt)),
        }
    }

    /// Projects each event as the store hands it over (borrowed, no copy of a record),
    /// then commits the batch's statements with the checkpoint.
    async fn read_apply<S: EventStore>(
        &self,
        store: &S,
        shared: &Shared<P>,
        after: u64,
        batch_size: usize,
        filter: &EventFilter,
    ) -> Result<usize, ProjectionFailure> {
        let mut batch = SqlBatch::new(after);
        let read = store
            .visit_all(after, batch_size, filter, &mut |event| {
                batch.project(shared, event)
            })
            .await;
        match read {
            Ok(read) => {
                self.commit(shared, batch).await?;
                if read < batch_size {
                    self.publish::<P>().await?;
                }
                Ok(read)
            }
            Err(error) => {
                // Nothing of a batch that was not read whole is committed.
                batch.discard(shared);
                Err(failure::<P>(None, error.to_string()))
            }
        }
    }
}

/// The events of one SQL batch projected so far: their statements wait in the projection's
/// writer until the batch commits.
struct SqlBatch {
    /// The checkpoint the batch was read after.
    after: u64,
    handled: usize,
    last: u64,
    stopped_at: Option<ProjectionFailure>,
}

impl SqlBatch {
    fn new(after: u64) -> Self {
        SqlBatch {
            after,
            handled: 0,
            last: after,
            stopped_at: None,
        }
    }

    /// Projects one event; breaks at a failing handler or when the read model was rebuilt
    /// meanwhile (the rest of the batch belongs to the old one).
    fn project<P: SqlProjection>(
        &mut self,
        shared: &Shared<P>,
        event: &RecordedEvent,
    ) -> ControlFlow<()> {
        let mut tracked = shared
            .tracked
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if tracked.checkpoint != self.after {
            return ControlFlow::Break(());
        }
        // Event by event, so the statements of an event whose handler failed part-way are
        // dropped, not committed with the events before it.
        let written = tracked.projection.writer().len();
        let (count, failure) =
            project_batch(shared, &mut tracked.projection, std::slice::from_ref(event));
        if failure.is_some() {
            tracked.projection.writer().truncate(written);
            self.stopped_at = failure;
            return ControlFlow::Break(());
        }
        self.handled += count;
        self.last = event.position;
        ControlFlow::Continue(())
    }

    /// Drops the statements of the batch's events from the read model's writer.
    fn discard<P: SqlProjection>(self, shared: &Shared<P>) {
        let mut tracked = shared
            .tracked
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if tracked.checkpoint == self.after {
            tracked.projection.writer().take();
        }
    }
}

impl<T: SqlTarget> SqlSink<T> {
    fn new(target: T) -> Self {
        SqlSink {
            target,
            published: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Once this version has caught up: points the read model's views at its tables (unless
    /// a newer version has them).
    async fn publish<P: SqlProjection>(&self) -> Result<(), ProjectionFailure> {
        if self.published.load(Ordering::Acquire) {
            return Ok(());
        }
        let views: Vec<(String, String)> = P::views()
            .into_iter()
            .map(|base| (base.to_owned(), P::table(base)))
            .collect();
        let switched = self
            .target
            .publish_version(P::NAME, P::VERSION, &views)
            .await
            .map_err(|error| failure::<P>(None, format!("publishing the views failed: {error}")))?;
        if switched {
            tracing::info!(
                projection = P::NAME,
                version = P::VERSION,
                "caught up: readers switched to this version"
            );
        }
        self.published.store(true, Ordering::Release);
        Ok(())
    }
    /// Commits the batch's statements and moves the checkpoint in one transaction; then
    /// reports the handler failure that ended the batch, if one did.
    async fn commit<P: SqlProjection>(
        &self,
        shared: &Shared<P>,
        batch: SqlBatch,
    ) -> Result<(), ProjectionFailure> {
        let SqlBatch {
            after,
            handled,
            last: to,
            stopped_at,
        } = batch;
        let statements = {
            let mut tracked = shared
                .tracked
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            if tracked.checkpoint != after {
                return Ok(()); // rebuilt meanwhile: the batch belonged to the old read model
            }
            tracked.projection.writer().take()
        };
        if handled > 0 {
            match self
                .target
                .commit_projection(&P::checkpoint_key(), after, to, statements)
                .await
            {
                Ok(()) => {
                    let mut tracked = shared
                        .tracked
                        .write()
                        .unwrap_or_else(PoisonError::into_inner);
                    if tracked.checkpoint == after {
                        tracked.checkpoint = to;
                        tracked.handled += handled as u64;
                    }
                }
                // Another runner of this projection committed first: carry on from where it
                // got to (its commit holds these events already; nothing was written here).
                Err(StoreError::CheckpointMoved { .. }) => {
                    let stored = self
                        .target
                        .checkpoint(&P::checkpoint_key())
                        .await
                        .map_err(|error| failure::<P>(None, error.to_string()))?;
                    tracing::info!(
                        projection = P::NAME,
                        stored,
                        "another runner moved the checkpoint; following it"
                    );
                    let mut tracked = shared
                        .tracked
                        .write()
                        .unwrap_or_else(PoisonError::into_inner);
                    if tracked.checkpoint == after {
                        tracked.checkpoint = stored;
                    }
                    return Ok(());
                }
                Err(error) => return Err(failure::<P>(None, error.to_string())),
            }
        }
        stopped_at.map_or(Ok(()), Err)
    }
}

/// A read model in a store of its own: at least once, deduplicated by its inbox.
struct ExternalSink<T>(T);

#[async_trait::async_trait]
impl<P: ExternalProjection, T: CheckpointStore> Sink<P> for ExternalSink<T> {
    async fn rebuild(&self, shared: &Shared<P>, rebuilt: P) -> Result<(), (StoreError, P)> {
        // The read model's own store is the user's to empty; the checkpoint starts again.
        let from = shared.tracked().checkpoint;
        match self.0.move_checkpoint(&P::checkpoint_key(), from, 0).await {
            Ok(()) => {
                shared.restart(rebuilt);
                Ok(())
            }
            Err(error) => Err((error, rebuilt)),
        }
    }

    /// Reads the batch whole (the read model's inbox is asked about all its ids at once),
    /// then applies it.
    async fn read_apply<S: EventStore>(
        &self,
        store: &S,
        shared: &Shared<P>,
        after: u64,
        batch_size: usize,
        filter: &EventFilter,
    ) -> Result<usize, ProjectionFailure> {
        let events = store
            .read_all(after, batch_size, filter)
            .await
            .map_err(|error| failure::<P>(None, error.to_string()))?;
        self.apply(shared, after, &events)
            .await
            .map(|()| events.len())
    }
}

impl<T: CheckpointStore> ExternalSink<T> {
    /// Applies `events`, read after `after`, skipping those in the read model's inbox, and
    /// moves the checkpoint with them.
    async fn apply<P: ExternalProjection>(
        &self,
        shared: &Shared<P>,
        after: u64,
        events: &[RecordedEvent],
    ) -> Result<(), ProjectionFailure> {
        let read_model = |error: ReadModelError| {
            failure::<P>(None, format!("the read model's store failed: {error}"))
        };
        let mut projection = {
            let tracked = shared.tracked();
            if tracked.checkpoint != after {
                return Ok(());
            }
            tracked.projection.clone()
        };
        let ids: Vec<uuid::Uuid> = events.iter().map(|e| e.event_id).collect();
        let processed = projection.processed(&ids).await.map_err(read_model)?;
        let (mut through, mut delivered, mut stopped_at) = (0usize, Vec::new(), None);
        for event in events {
            if !processed.contains(&event.event_id) {
                let (count, failure) =
                    project_batch(shared, &mut projection, std::slice::from_ref(event));
                if failure.is_some() {
                    stopped_at = failure;
                    break;
                }
                if count == 1 {
                    delivered.push(event.event_id);
                }
            }
            through += 1;
        }
        let Some(last) = through.checked_sub(1) else {
            return stopped_at.map_or(Ok(()), Err);
        };
        projection.flush(&delivered).await.map_err(read_model)?;
        let to = events[last].position;
        match self
            .0
            .move_checkpoint(&P::checkpoint_key(), after, to)
            .await
        {
            Ok(()) | Err(StoreError::CheckpointMoved { .. }) => {}
            // The read model holds the batch (its inbox says so): a replay skips it.
            Err(error) => return Err(failure::<P>(None, error.to_string())),
        }
        let mut tracked = shared
            .tracked
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if tracked.checkpoint == after {
            tracked.projection = projection;
            tracked.checkpoint = to;
            tracked.handled += delivered.len() as u64;
        }
        stopped_at.map_or(Ok(()), Err)
    }
}

/// Projects `events` in order into `projection`, up to the first that fails (unless the
/// operator asked to skip it). Returns how many were handled (skipped ones included), and
/// the failure that stopped the batch, if any.
fn project_batch<P: Projection>(
    shared: &Shared<P>,
    projection: &mut P,
    events: &[RecordedEvent],
) -> (usize, Option<ProjectionFailure>) {
    let span = tracing::debug_span!(
        "annals.projection.batch",
        projection = P::NAME,
        events = events.len()
    );
    let _entered = span.enter();
    for (index, recorded) in events.iter().enumerate() {
        // A panicking handler is a failure of this projection, not of its task: without
        // this the runner would die and its readers wait forever. The read model may hold
        // part of the event; the retry applies it again (fix the handler, then rebuild).
        let projected = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            projection
                .project_recorded(recorded)
                .map_err(|error| error.to_string())
        }))
        .unwrap_or_else(|panic| Err(format!("the handler panicked: {}", panic_message(&panic))));
        if let Err(error) = projected {
            let mut skip = shared.skip.write().unwrap_or_else(PoisonError::into_inner);
            if *skip != Some(recorded.position) {
                let event = (
                    recorded.position,
                    recorded.stream_id.clone(),
                    recorded.event_type.clone(),
                );
                return (index, Some(failure::<P>(Some(event), error)));
            }
            *skip = None;
            tracing::warn!(
                projection = P::NAME,
                position = recorded.position,
                "skipping an event, as an operator asked"
            );
        }
    }
    (events.len(), None)
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

fn failure<P: Projection>(
    event: Option<(u64, String, String)>,
    message: String,
) -> ProjectionFailure {
    let (position, event) = match event {
        Some((position, stream, event_type)) => (Some(position), Some((stream, event_type))),
        None => (None, None),
    };
    ProjectionFailure {
        projection: P::NAME,
        position,
        event,
        message,
        attempts: 0,
    }
}

/// Resolves when the store's wake-up changes; never, when the store has none.
async fn changed(notifications: &mut Option<watch::Receiver<u64>>) {
    match notifications {
        Some(receiver) => {
            if receiver.changed().await.is_err() {
                *notifications = None;
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending::<()>().await,
    }
}
