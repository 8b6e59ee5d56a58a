//! The command path: load → decide → append with the expected version → retry on conflict
//! → snapshot per policy → outcome.

mod cache;

use std::marker::PhantomData;
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tracing::Instrument;
use uuid::Uuid;

use self::cache::AggregateCache;
use crate::aggregate::Aggregate;
use crate::command::{Command, Expect};
use crate::event::{DecodeFailure, EncodeError, Event, EventDecodeError};
use crate::store::{
    EventRef, EventStore, ExpectedVersion, Metadata, NewEvent, Snapshot, SnapshotStore, StoreError,
};

/// When the repository stores a snapshot of an aggregate after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SnapshotPolicy {
    /// Never (the default): aggregates load from their events alone.
    #[default]
    Never,
    /// Whenever the stream version crosses a multiple of `n` (n > 0).
    EveryNEvents(u64),
}

impl SnapshotPolicy {
    fn due(self, old_version: u64, new_version: u64) -> bool {
        match self {
            SnapshotPolicy::Never => false,
            SnapshotPolicy::EveryNEvents(0) => false,
            SnapshotPolicy::EveryNEvents(n) => old_version / n != new_version / n,
        }
    }
}

/// How often the command path reloads and retries after an optimistic concurrency conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1).
    pub max_attempts: u32,
    /// The pause before the first retry; doubled before each further retry.
    pub initial_backoff: Duration,
    /// The longest pause between two attempts.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    /// Five attempts; the first retry runs at once, then 1 ms, 2 ms, 4 ms.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::ZERO,
            max_backoff: Duration::from_millis(100),
        }
    }
}

impl RetryPolicy {
    /// No retry: the first conflict is returned to the caller.
    pub fn never() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    fn backoff_before(&self, retry: u32) -> Duration {
        // retry 1 waits `initial_backoff` (or nothing), retry k waits 2^(k-2) ms at least.
        let base = if retry <= 1 {
            self.initial_backoff
        } else {
            self.initial_backoff
                .max(Duration::from_millis(1))
                .saturating_mul(1 << (retry - 2).min(16))
        };
        base.min(self.max_backoff)
    }
}

/// An aggregate as loaded from the store.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded<A> {
    /// The state.
    pub state: A,
    /// The stream version the state includes (0 when the stream has no events).
    pub version: u64,
    /// The version of the snapshot the load started from, if one was used.
    pub snapshot_version: Option<u64>,
}

/// A recorded event, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope<E> {
    /// The event's global position.
    pub position: u64,
    /// The stream it belongs to.
    pub stream_id: String,
    /// Its version in the stream.
    pub stream_version: u64,
    /// Its id.
    pub event_id: Uuid,
    /// Correlation, causation and user key/values.
    pub metadata: Metadata,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
    /// The event.
    pub event: E,
}

/// What a command recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandOutcome<E> {
    /// The target stream.
    pub stream_id: String,
    /// The stream's version after the command.
    pub stream_version: u64,
    /// The global position of the last recorded event; `None` when the command recorded
    /// nothing. Wait for a read model to reach it for read-your-writes.
    pub position: Option<u64>,
    /// The recorded events.
    pub events: Vec<Envelope<E>>,
}

/// Loading an aggregate failed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored event does not decode.
    #[error(transparent)]
    Decode(#[from] EventDecodeError),
    /// The store returned a stream whose versions are not consecutive.
    #[error("stream `{stream_id}` jumps from version {expected} to {found}")]
    BrokenStream {
        /// The stream.
        stream_id: String,
        /// The version that should have come next.
        expected: u64,
        /// The version that came.
        found: u64,
    },
}

/// A command did not complete.
#[derive(Debug, thiserror::Error)]
pub enum CommandError<E: std::error::Error + 'static> {
    /// The aggregate rejected the command (its domain error).
    #[error("command rejected: {0}")]
    Rejected(#[source] E),
    /// The command requires an existing stream, and there is none.
    #[error("`{stream_id}` does not exist")]
    NotFound {
        /// The target stream.
        stream_id: String,
    },
    /// The command creates its stream, and the stream already exists.
    #[error("`{stream_id}` already exists (at version {version})")]
    AlreadyExists {
        /// The target stream.
        stream_id: String,
        /// Its current version.
        version: u64,
    },
    /// Every attempt met a concurrent writer.
    #[error("`{stream_id}` kept changing concurrently; gave up after {attempts} attempts")]
    Conflict {
        /// The target stream.
        stream_id: String,
        /// Attempts made.
        attempts: u32,
    },
    /// The aggregate could not be loaded.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// A decided event could not be encoded.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// The store failed while appending.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Runs commands on aggregates of type `A` stored in `S`.
///
/// ```
/// # use annals::{Aggregate, Apply, Event, Command, Handle};
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
/// use annals::{InMemoryStore, Repository};
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
pub const DEFAULT_READ_BATCH: usize = 4096;

fn broken_stream(stream_id: &str, loaded: u64, found: u64) -> LoadError {
    LoadError::BrokenStream {
        stream_id: stream_id.to_owned(),
        expected: loaded + 1,
        found,
    }
}

impl<A, S> Repository<A, S>
where
    A: Aggregate,
    S: EventStore + SnapshotStore,
{
    /// A repository over `store`, with no snapshots and the default retry policy.
    pub fn new(store: S) -> Self {
        Repository {
            store,
            snapshots: SnapshotPolicy::Never,
            retry: RetryPolicy::default(),
            read_batch: DEFAULT_READ_BATCH,
            cache: None,
            aggregate: PhantomData,
        }
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

    /// The current state of aggregate `id` (snapshot + tail). A stream with no events loads
    /// as `Default` at version 0.
    pub async fn load(&self, id: &str) -> Result<Loaded<A>, LoadError> {
        let stream_id = A::stream_id(id);
        self.load_stream(&stream_id, u64::MAX, true).await
    }

    /// The state of aggregate `id` rebuilt from all its events, ignoring snapshots.
    pub async fn load_from_events(&self, id: &str) -> Result<Loaded<A>, LoadError> {
        let stream_id = A::stream_id(id);
        self.load_stream(&stream_id, u64::MAX, false).await
    }

    /// The state of aggregate `id` as of stream version `version` (its first `version`
    /// events; fewer if the stream is shorter).
    pub async fn load_at_version(&self, id: &str, version: u64) -> Result<Loaded<A>, LoadError> {
        let stream_id = A::stream_id(id);
        self.load_stream(&stream_id, version, true).await
    }

    /// The state of aggregate `id` as of `at`: the events recorded at or before it.
    pub async fn load_as_of(&self, id: &str, at: DateTime<Utc>) -> Result<Loaded<A>, LoadError> {
        let stream_id = A::stream_id(id);
        // Snapshots carry no event timestamps, so a temporal load replays from the start,
        // reading whole records (it needs `recorded_at`, which the hot path does not read).
        let mut loaded = Loaded {
            state: A::default(),
            version: 0,
            snapshot_version: None,
        };
        loop {
            let batch = self
                .store
                .read_stream(&stream_id, loaded.version + 1, self.read_batch)
                .await?;
            for recorded in &batch {
                if recorded.recorded_at > at {
                    return Ok(loaded);
                }
                if recorded.stream_version != loaded.version + 1 {
                    return Err(broken_stream(
                        &stream_id,
                        loaded.version,
                        recorded.stream_version,
                    ));
                }
                loaded
                    .state
                    .apply_event(&A::Event::decode_recorded(recorded)?);
                loaded.version = recorded.stream_version;
            }
            if batch.len() < self.read_batch {
                return Ok(loaded);
            }
        }
    }

    /// Loads through [`EventStore::visit_stream`]: borrowed rows, no copy per event.
    async fn load_stream(
        &self,
        stream_id: &str,
        up_to_version: u64,
        use_snapshot: bool,
    ) -> Result<Loaded<A>, LoadError> {
        let mut loaded = Loaded {
            state: A::default(),
            version: 0,
            snapshot_version: None,
        };
        if use_snapshot
            && let Some((state, version)) = self.load_snapshot(stream_id, up_to_version).await?
        {
            loaded = Loaded {
                state,
                version,
                snapshot_version: Some(version),
            };
        }
        // With a snapshot at version s, the first read starts at s itself: the event there
        // proves the snapshot describes this stream (a snapshot restored apart from its
        // events, or ahead of them, is dropped and the state replayed from the start).
        let mut check_snapshot = loaded.snapshot_version.is_some();
        let mut broken: Option<u64> = None;
        let mut undecodable: Option<(u64, DecodeFailure)> = None;
        while loaded.version < up_to_version {
            let from = if check_snapshot {
                loaded.version
            } else {
                loaded.version + 1
            };
            let wanted = (up_to_version - loaded.version).min(self.read_batch as u64) as usize
                + usize::from(check_snapshot);
            let mut snapshot_confirmed = !check_snapshot;
            let mut visitor = |event: EventRef<'_>| {
                if !snapshot_confirmed {
                    snapshot_confirmed = event.stream_version == loaded.version;
                    return if snapshot_confirmed {
                        ControlFlow::Continue(())
                    } else {
                        ControlFlow::Break(())
                    };
                }
                if event.stream_version != loaded.version + 1 {
                    broken = Some(event.stream_version);
                    return ControlFlow::Break(());
                }
                match A::Event::decode(event.event_type, event.schema_version, event.payload) {
                    Ok(decoded) => {
                        loaded.state.apply_event(&decoded);
                        loaded.version = event.stream_version;
                        ControlFlow::Continue(())
                    }
                    Err(reason) => {
                        undecodable = Some((event.stream_version, reason));
                        ControlFlow::Break(())
                    }
                }
            };
            let read = self
                .store
                .visit_stream(stream_id, from, wanted, &mut visitor)
                .await?;
            if let Some(found) = broken {
                return Err(broken_stream(stream_id, loaded.version, found));
            }
            if let Some((version, reason)) = undecodable {
                return Err(self.decode_error(stream_id, version, reason).await);
            }
            if check_snapshot {
                check_snapshot = false;
                if !snapshot_confirmed {
                    tracing::warn!(
                        stream_id,
                        snapshot_version = loaded.version,
                        "the stream has no event at the snapshot's version; ignoring the snapshot"
                    );
                    loaded = Loaded {
                        state: A::default(),
                        version: 0,
                        snapshot_version: None,
                    };
                    continue;
                }
            }
            if read < wanted {
                break;
            }
        }
        Ok(loaded)
    }

    /// The full error for an event that did not decode: the hot path reads no positions, so
    /// the record is read again for the error to name everything an operator needs.
    async fn decode_error(
        &self,
        stream_id: &str,
        version: u64,
        reason: DecodeFailure,
    ) -> LoadError {
        match self.store.read_stream(stream_id, version, 1).await {
            Ok(records) if !records.is_empty() => {
                let recorded = &records[0];
                LoadError::Decode(EventDecodeError {
                    stream_id: stream_id.to_owned(),
                    stream_version: version,
                    position: recorded.position,
                    event_type: recorded.event_type.clone(),
                    schema_version: recorded.schema_version,
                    reason,
                })
            }
            Ok(_) => LoadError::BrokenStream {
                stream_id: stream_id.to_owned(),
                expected: version,
                found: 0,
            },
            Err(error) => LoadError::Store(error),
        }
    }

    /// The stored snapshot of `stream_id`, if the aggregate takes snapshots, the snapshot's
    /// schema version is current, it decodes, and it is not past `up_to_version`.
    async fn load_snapshot(
        &self,
        stream_id: &str,
        up_to_version: u64,
    ) -> Result<Option<(A, u64)>, StoreError> {
        let Some(format) = A::snapshot_format() else {
            return Ok(None);
        };
        let Some(snapshot) = self.store.load_snapshot(stream_id).await? else {
            return Ok(None);
        };
        if snapshot.schema_version != format.version || snapshot.stream_version > up_to_version {
            return Ok(None);
        }
        match (format.decode)(&snapshot.payload) {
            Ok(state) => Ok(Some((state, snapshot.stream_version))),
            Err(error) => {
                tracing::warn!(
                    stream_id,
                    snapshot_version = snapshot.stream_version,
                    %error,
                    "snapshot does not decode; rebuilding from events"
                );
                Ok(None)
            }
        }
    }

    /// Runs `command`: see [`Repository::execute_with`]. Correlation and causation ids are
    /// a fresh command id.
    pub async fn execute<C>(
        &self,
        command: C,
    ) -> Result<CommandOutcome<A::Event>, CommandError<A::Error>>
    where
        C: Command<Aggregate = A>,
    {
        self.execute_with(command, Metadata::default()).await
    }

    /// Runs `command` with `metadata` on every recorded event: load → check the command's
    /// [`Expect`] rule → decide → append with the loaded version as expected version → on a
    /// conflict reload and retry per the [`RetryPolicy`] → snapshot per the
    /// [`SnapshotPolicy`].
    ///
    /// A fresh command id becomes the causation id and, when `metadata` has none, the
    /// correlation id.
    pub async fn execute_with<C>(
        &self,
        command: C,
        mut metadata: Metadata,
    ) -> Result<CommandOutcome<A::Event>, CommandError<A::Error>>
    where
        C: Command<Aggregate = A>,
    {
        let command_id = Uuid::now_v7();
        metadata.correlation_id.get_or_insert(command_id);
        metadata.causation_id.get_or_insert(command_id);
        let stream_id = A::stream_id(&command.aggregate_id());
        let span = tracing::info_span!(
            "annals.command",
            command = command.command_name(),
            stream_id = %stream_id,
            version = tracing::field::Empty,
        );
        self.run_command(&command, &stream_id, &metadata)
            .instrument(span)
            .await
    }

    async fn run_command<C>(
        &self,
        command: &C,
        stream_id: &str,
        metadata: &Metadata,
    ) -> Result<CommandOutcome<A::Event>, CommandError<A::Error>>
    where
        C: Command<Aggregate = A>,
    {
        let attempts = self.retry.max_attempts.max(1);
        let mut conflicts = 0;
        // The first attempt may start from a guess instead of a load: the cached state, or,
        // for a command that creates its stream, the empty state (the stream must not
        // exist). The append's expected-version check confirms the guess; a decision that
        // appends nothing is taken again on the stored state.
        let mut guess = true;
        loop {
            let cached = if guess {
                self.cache_take(stream_id)
            } else {
                None
            };
            let assumed_new = guess && cached.is_none() && command.expect() == Expect::New;
            let unverified = guess && (cached.is_some() || assumed_new);
            guess = false;
            let (mut state, version) = match cached {
                Some(cached) => cached,
                None if assumed_new => (A::default(), 0),
                None => {
                    let loaded = self.load_stream(stream_id, u64::MAX, true).await?;
                    (loaded.state, loaded.version)
                }
            };
            match command.expect() {
                Expect::New if version > 0 => {
                    self.cache_put(stream_id, state, version);
                    return Err(CommandError::AlreadyExists {
                        stream_id: stream_id.to_owned(),
                        version,
                    });
                }
                Expect::Existing if version == 0 => {
                    return Err(CommandError::NotFound {
                        stream_id: stream_id.to_owned(),
                    });
                }
                _ => {}
            }
            let decided = match command.handle(&state) {
                Err(_) if unverified => continue,
                Ok(events) if events.is_empty() && unverified => continue,
                Err(error) => {
                    self.cache_put(stream_id, state, version);
                    return Err(CommandError::Rejected(error));
                }
                Ok(events) => events,
            };
            if decided.is_empty() {
                self.cache_put(stream_id, state, version);
                return Ok(CommandOutcome {
                    stream_id: stream_id.to_owned(),
                    stream_version: version,
                    position: None,
                    events: Vec::new(),
                });
            }
            let new_events = decided
                .iter()
                .map(|event| {
                    let encoded = event.encode()?;
                    Ok(NewEvent::new(
                        encoded.event_type,
                        encoded.schema_version,
                        encoded.payload,
                        metadata.clone(),
                    ))
                })
                .collect::<Result<Vec<_>, EncodeError>>()?;
            let event_ids: Vec<Uuid> = new_events.iter().map(|e| e.event_id).collect();
            match self
                .store
                .append(stream_id, ExpectedVersion::Exact(version), new_events)
                .await
            {
                Ok(appended) => {
                    tracing::Span::current().record("version", appended.stream_version);
                    for event in &decided {
                        state.apply_event(event);
                    }
                    self.snapshot_if_due(stream_id, &state, version, appended.stream_version)
                        .await;
                    self.cache_put(stream_id, state, appended.stream_version);
                    let events = decided
                        .into_iter()
                        .zip(event_ids)
                        .zip(&appended.positions)
                        .enumerate()
                        .map(|(i, ((event, event_id), &position))| Envelope {
                            position,
                            stream_id: stream_id.to_owned(),
                            stream_version: version + 1 + i as u64,
                            event_id,
                            metadata: metadata.clone(),
                            recorded_at: appended.recorded_at,
                            event,
                        })
                        .collect();
                    return Ok(CommandOutcome {
                        stream_id: stream_id.to_owned(),
                        stream_version: appended.stream_version,
                        position: Some(appended.last_position()),
                        events,
                    });
                }
                Err(StoreError::WrongExpectedVersion { actual, .. }) if assumed_new => {
                    return Err(CommandError::AlreadyExists {
                        stream_id: stream_id.to_owned(),
                        version: actual,
                    });
                }
                Err(error) if error.is_conflict() => {
                    conflicts += 1;
                    tracing::debug!(conflicts, unverified, %error, "conflict; reloading");
                    if conflicts >= attempts {
                        return Err(CommandError::Conflict {
                            stream_id: stream_id.to_owned(),
                            attempts,
                        });
                    }
                    let pause = self.retry.backoff_before(conflicts);
                    if !pause.is_zero() {
                        tokio::time::sleep(pause).await;
                    }
                }
                // The append may or may not have committed: the state taken out of the
                // cache stays out, and the next command loads the stream.
                Err(error) => return Err(CommandError::Store(error)),
            }
        }
    }

    fn cache_take(&self, stream_id: &str) -> Option<(A, u64)> {
        let cache = self.cache.as_ref()?;
        cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take(stream_id)
    }

    fn cache_put(&self, stream_id: &str, state: A, version: u64) {
        if let Some(cache) = &self.cache {
            cache
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .put(stream_id, state, version);
        }
    }

    async fn snapshot_if_due(
        &self,
        stream_id: &str,
        state: &A,
        old_version: u64,
        new_version: u64,
    ) {
        let Some(format) = A::snapshot_format() else {
            return;
        };
        if !self.snapshots.due(old_version, new_version) {
            return;
        }
        // The command has committed: a failed snapshot costs a longer load later, nothing more.
        let payload = match (format.encode)(state) {
            Ok(payload) => payload,
            Err(error) => {
                tracing::warn!(stream_id, %error, "snapshot does not encode; skipped");
                return;
            }
        };
        let snapshot = Snapshot {
            stream_id: stream_id.to_owned(),
            stream_version: new_version,
            schema_version: format.version,
            payload,
            taken_at: Utc::now(),
        };
        if let Err(error) = self.store.save_snapshot(snapshot).await {
            tracing::warn!(stream_id, %error, "snapshot not saved");
        }
    }
}
