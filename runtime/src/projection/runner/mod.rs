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

mod feed;
mod handle;
mod options;
mod shared;
mod sink;
mod status;
mod task;

use std::sync::{Arc, PoisonError};

use tokio::sync::watch;

use self::feed::{Feed, FeedReader};
pub use self::handle::{ProjectionHandle, ProjectionReader};
pub use self::options::RunnerOptions;
use self::shared::Shared;
use self::sink::{ExternalSink, MemorySink, Sink, SqlSink};
pub use self::status::{Lag, ProjectionFailure, Status, WaitError, Waiting};
use super::{ExternalProjection, Projection, SqlProjection};
use crate::store::{CheckpointStore, EventFilter, EventStore, SqlTarget, StoreError};

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
/// use annals::store::{EventStore, ExpectedVersion, InMemoryStore, Metadata, NewEvent};
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
    /// The log's tail, read once for all the projections caught up.
    feed: Arc<Feed>,
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
    /// A runner over `store` with the default options. Its projections use the store
    /// [`for_workers`](EventStore::for_workers): on PostgreSQL, connections of their own,
    /// so however many run, the command path keeps its connections.
    pub fn new(store: S) -> Self {
        ProjectionRunner {
            store: store.for_workers(),
            options: RunnerOptions::default(),
            feed: Feed::new(),
            started: Default::default(),
        }
    }

    /// Sets the options.
    pub fn with_options(mut self, options: RunnerOptions) -> Self {
        self.options = options;
        self
    }

    /// Starts `projection` from the beginning of the log, in a task of its own.
    ///
    /// Each event is applied exactly once, under the lock readers take. A handler that
    /// panics part-way has changed the read model: the runner starts it again from
    /// `P::default()` and replays the log up to the event before the failing one, so readers
    /// never see part of an event.
    ///
    /// # Panics
    ///
    /// When another event enum of the store (see [`Catalog`](crate::store::Catalog))
    /// stores events under a name the projection reads: its handlers would be handed that
    /// enum's events. The same holds for every `spawn_*`.
    #[track_caller]
    pub fn spawn<P: Projection + Default>(&self, projection: P) -> ProjectionHandle<P> {
        self.spawn_from(projection, 0)
    }

    /// Starts `projection` with a read model that already includes every event up to the
    /// event at `checkpoint` (a restored read model, or 0 for the beginning). Should a
    /// handler panic part-way, the read model is rebuilt from `P::default()` and the whole
    /// log, as in [`spawn`](Self::spawn).
    #[track_caller]
    pub fn spawn_from<P: Projection + Default>(
        &self,
        projection: P,
        checkpoint: u64,
    ) -> ProjectionHandle<P> {
        self.claim::<P>();
        self.start(Shared::new(projection, checkpoint), MemorySink)
    }

    /// Claims the event names `P` reads in the store's catalog, for the enums `P` reads
    /// them of.
    #[track_caller]
    fn claim<P: Projection>(&self) {
        for (owner, names) in P::consumed_enums() {
            if let Err(error) = self.store.catalog().claim_event_names(&names, owner) {
                panic!("projection `{}`: {error}", P::NAME);
            }
        }
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
        let task = tokio::spawn(task::run(
            FeedReader::new(self.store.clone(), Arc::clone(&self.feed)),
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
        self.claim::<P>();
        let shared = stored_checkpoint(&self.store, projection).await?;
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
        self.claim::<P>();
        self.store.prepare_read_model(&P::setup()).await?;
        let shared = stored_checkpoint(&self.store, projection).await?;
        Ok(self.start(shared, SqlSink::new(self.store.clone())))
    }
}

/// `projection` at its stored checkpoint. A checkpoint that does not read starts it
/// blocked, failing visibly until it is rebuilt: the read model's tables hold an unknown
/// part of the log.
async fn stored_checkpoint<P: Projection>(
    store: &impl CheckpointStore,
    projection: P,
) -> Result<Arc<Shared<P>>, StoreError> {
    match store.checkpoint(&P::checkpoint_key()).await {
        Ok(checkpoint) => Ok(Shared::new(projection, checkpoint)),
        Err(error @ StoreError::CorruptCheckpoint { .. }) => {
            let shared = Shared::new(projection, 0);
            shared.block(format!("{error}; rebuild it"));
            Ok(shared)
        }
        Err(error) => Err(error),
    }
}
