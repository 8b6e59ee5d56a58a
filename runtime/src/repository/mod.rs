//! The command path: load → decide → append with the expected version → retry on conflict
//! → snapshot per policy → outcome.

mod cache;
mod dispatcher;
mod error;
mod execute;
mod load;
mod outcome;
mod policy;

use std::marker::PhantomData;
use std::sync::{Arc, Mutex};

use self::cache::AggregateCache;
pub use self::dispatcher::CommandDispatcher;
pub use self::error::{CommandError, LoadError};
pub use self::outcome::{CommandOutcome, Envelope, Loaded};
pub use self::policy::{RetryPolicy, SnapshotPolicy};
use crate::aggregate::Aggregate;
use crate::event::Event;
use crate::store::{ClaimError, EventStore, Owner, SnapshotStore};

/// Runs commands on aggregates of type `A` stored in `S`.
///
/// ```
/// # use annals::{Aggregate, Apply, Command, Event, Handle};
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
/// # struct Incremented { by: u32 }
/// # #[derive(Event, Clone, Debug, PartialEq)]
/// # enum CounterEvent { Incremented(Incremented) }
/// # #[derive(Debug, thiserror::Error)]
/// # #[error("counter error")]
/// # struct CounterError;
/// # #[derive(Aggregate, Default)]
/// # #[aggregate(event = CounterEvent, error = CounterError)]
/// # struct Counter { value: u32 }
/// # impl Apply<Incremented> for Counter {
/// #     fn apply(&mut self, event: &Incremented) { self.value += event.by }
/// # }
/// # #[derive(Command)]
/// # #[command(aggregate = Counter, expect = any)]
/// # struct Increment { #[id] counter: String, by: u32 }
/// # impl Handle<Increment> for Counter {
/// #     fn handle(&self, c: &Increment) -> Result<Vec<CounterEvent>, CounterError> {
/// #         Ok(vec![Incremented { by: c.by }.into()])
/// #     }
/// # }
/// use annals::Repository;
/// use annals::store::InMemoryStore;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let counters = Repository::<Counter, _>::new(InMemoryStore::new());
/// let outcome = counters.execute(Increment { counter: "c1".into(), by: 2 }).await?;
/// assert_eq!(outcome.stream_version, 1);
/// let loaded = counters.load("c1").await?;
/// assert_eq!(loaded.state.value, 2);
/// # Ok(()) }
/// ```
pub struct Repository<A, S> {
    store: S,
    snapshots: SnapshotPolicy,
    retry: RetryPolicy,
    read_batch: usize,
    /// Shared by clones: hydrated aggregates of the command path (see `with_cache`).
    cache: Option<Arc<Mutex<AggregateCache<A>>>>,
    aggregate: PhantomData<fn() -> A>,
}

impl<A, S: Clone> Clone for Repository<A, S> {
    fn clone(&self) -> Self {
        Repository {
            store: self.store.clone(),
            snapshots: self.snapshots,
            retry: self.retry,
            read_batch: self.read_batch,
            cache: self.cache.clone(),
            aggregate: PhantomData,
        }
    }
}

impl<A, S> std::fmt::Debug for Repository<A, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repository")
            .field("aggregate", &std::any::type_name::<A>())
            .field("snapshots", &self.snapshots)
            .field("retry", &self.retry)
            .field("read_batch", &self.read_batch)
            .field("cache", &self.cache.is_some())
            .finish()
    }
}

/// The default number of events read per round trip while loading.
const DEFAULT_READ_BATCH: usize = 4096;

impl<A, S> Repository<A, S>
where
    A: Aggregate,
    S: EventStore + SnapshotStore,
{
    /// A repository over `store`, with no snapshots and the default retry policy.
    ///
    /// # Panics
    ///
    /// When another aggregate of the store (see [`Catalog`](crate::store::Catalog)) has `A`'s stream kind, or
    /// another event enum stores events under one of `A::Event`'s names: a mistake in the
    /// domain's declarations, which [`try_new`](Repository::try_new) returns instead.
    #[track_caller]
    pub fn new(store: S) -> Self {
        match Self::try_new(store) {
            Ok(repository) => repository,
            Err(error) => panic!("{error}"),
        }
    }

    /// A repository over `store`, after claiming `A`'s stream kind and its events' names in
    /// the store's [`Catalog`](crate::store::Catalog): refused when another aggregate has the kind (their streams
    /// would mix) or another enum one of the names (readers could not tell their events
    /// apart).
    pub fn try_new(store: S) -> Result<Self, ClaimError> {
        let catalog = store.catalog();
        catalog.claim_kind(A::KIND, Owner::of::<A>())?;
        catalog.claim_event_names(A::Event::STORED_NAMES, Owner::of::<A::Event>())?;
        Ok(Repository {
            store,
            snapshots: SnapshotPolicy::Never,
            retry: RetryPolicy::default(),
            read_batch: DEFAULT_READ_BATCH,
            cache: None,
            aggregate: PhantomData,
        })
    }

    /// Sets the snapshot policy. Has an effect only on aggregates declared with
    /// `#[aggregate(snapshot(version = N))]`.
    pub fn with_snapshots(mut self, policy: SnapshotPolicy) -> Self {
        self.snapshots = policy;
        self
    }

    /// Sets the conflict retry policy.
    pub fn with_retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Keeps up to `aggregates` hydrated aggregates between commands (least recently used
    /// evicted first), so a command on a stream this process already holds skips the load
    /// and costs one append. The append's expected-version check validates the cached
    /// state: a conflict (another process wrote) evicts it and reloads. A decision that
    /// appends nothing (a rejection, or no events) is taken again on the stored state, so
    /// no answer rests on an unchecked cache. `0` turns the cache off (the default).
    pub fn with_cache(mut self, aggregates: usize) -> Self {
        self.cache =
            (aggregates > 0).then(|| Arc::new(Mutex::new(AggregateCache::new(aggregates))));
        self
    }

    /// Sets how many events one read returns while loading (at least 1).
    pub fn with_read_batch(mut self, events: usize) -> Self {
        self.read_batch = events.max(1);
        self
    }

    /// The underlying store.
    pub fn store(&self) -> &S {
        &self.store
    }
}
