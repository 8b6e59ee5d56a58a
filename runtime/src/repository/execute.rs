//! Running a command: decide on the loaded (or cached) state, append with the expected
//! version, retry on conflict, snapshot per policy; with an idempotency key, once.

use chrono::Utc;
use tracing::Instrument;
use uuid::Uuid;

use super::{CommandError, CommandOutcome, Envelope, LoadError, Repository};
use crate::aggregate::Aggregate;
use crate::command::{Command, Expect};
use crate::event::{EncodeError, Event};
use crate::store::{
    EventStore, ExpectedVersion, Metadata, NewEvent, Snapshot, SnapshotStore, StoreError,
};

impl<A, S> Repository<A, S>
where
    A: Aggregate,
    S: EventStore + SnapshotStore,
{
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
    /// conflict reload and retry per the [`RetryPolicy`](crate::RetryPolicy) → snapshot per the
    /// [`SnapshotPolicy`](crate::SnapshotPolicy).
    ///
    /// A fresh command id becomes the causation id and, when `metadata` has none, the
    /// correlation id.
    pub async fn execute_with<C>(
        &self,
        command: C,
        metadata: Metadata,
    ) -> Result<CommandOutcome<A::Event>, CommandError<A::Error>>
    where
        C: Command<Aggregate = A>,
    {
        self.run(command, metadata, None).await
    }

    /// Runs `command` at most once for `key` (a request id, the id of the message the
    /// command answers, a saga's step): see [`Repository::execute_once_with`].
    pub async fn execute_once<C>(
        &self,
        key: &str,
        command: C,
    ) -> Result<CommandOutcome<A::Event>, CommandError<A::Error>>
    where
        C: Command<Aggregate = A>,
    {
        self.execute_once_with(key, command, Metadata::default())
            .await
    }

    /// Runs `command` with `metadata`, at most once for `key` on its stream: when a command
    /// with this key has recorded events on the stream, this returns that first outcome
    /// ([`CommandOutcome::replayed`]) and appends nothing more, in this process or
    /// another, before or after a restart.
    ///
    /// The key is kept in the store itself: the ids of the events a keyed command records
    /// are derived from the stream and the key, and event ids are unique in a store. Two
    /// executions racing with one key append once; the other finds the first's events. A
    /// command that records no events records no key either (running it again decides
    /// again, and records nothing again). The same key on another stream is another
    /// command.
    ///
    /// ```
    /// # use annals::{Aggregate, Apply, Command, Event, Handle, Repository};
    /// # use annals::store::InMemoryStore;
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
    /// # struct Lent { member: String }
    /// # #[derive(Event, Clone, Debug, PartialEq)]
    /// # enum BookEvent { Lent(Lent) }
    /// # #[derive(Debug, thiserror::Error)]
    /// # #[error("already lent")]
    /// # struct AlreadyLent;
    /// # #[derive(Aggregate, Default)]
    /// # #[aggregate(event = BookEvent, error = AlreadyLent)]
    /// # struct Book { lent: bool }
    /// # impl Apply<Lent> for Book { fn apply(&mut self, _: &Lent) { self.lent = true } }
    /// # #[derive(Command)]
    /// # #[command(aggregate = Book, expect = any)]
    /// # struct Lend { #[id] book: String, member: String }
    /// # impl Handle<Lend> for Book {
    /// #     fn handle(&self, c: &Lend) -> Result<Vec<BookEvent>, AlreadyLent> {
    /// #         if self.lent { return Err(AlreadyLent) }
    /// #         Ok(vec![Lent { member: c.member.clone() }.into()])
    /// #     }
    /// # }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let books = Repository::<Book, _>::new(InMemoryStore::new());
    /// let lend = || Lend { book: "dune".into(), member: "ada".into() };
    ///
    /// let first = books.execute_once("request-7", lend()).await?;
    /// // The client did not hear back and sends the request again: the book is not lent
    /// // twice, and the answer is the first one, not "already lent".
    /// let again = books.execute_once("request-7", lend()).await?;
    /// assert!(again.replayed);
    /// assert_eq!((again.stream_version, again.position), (first.stream_version, first.position));
    /// # Ok(()) }
    /// ```
    pub async fn execute_once_with<C>(
        &self,
        key: &str,
        command: C,
        metadata: Metadata,
    ) -> Result<CommandOutcome<A::Event>, CommandError<A::Error>>
    where
        C: Command<Aggregate = A>,
    {
        self.run(command, metadata, Some(key)).await
    }

    async fn run<C>(
        &self,
        command: C,
        mut metadata: Metadata,
        key: Option<&str>,
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
        self.run_command(&command, &stream_id, &metadata, key)
            .instrument(span)
            .await
    }

    async fn run_command<C>(
        &self,
        command: &C,
        stream_id: &str,
        metadata: &Metadata,
        key: Option<&str>,
    ) -> Result<CommandOutcome<A::Event>, CommandError<A::Error>>
    where
        C: Command<Aggregate = A>,
    {
        let attempts = self.retry.max_attempts();
        let mut conflicts = 0;
        // The first attempt may start from a guess instead of a load: the cached state, or,
        // for a command that creates its stream, the empty state (the stream must not
        // exist). The append's expected-version check confirms the guess; a decision that
        // appends nothing is taken again on the stored state.
        //
        // A keyed command decided on the stored state is not looked up first: the ids of
        // the events it appends are derived from its key, so an append of a command
        // recorded before fails as a duplicate, and its first outcome is read then. A
        // decision that appends nothing (a refusal, no events, "already exists") looks the
        // key up before it answers. A guessed state is looked up first: its append could
        // land exactly where the key's first append did, which the store takes for a
        // re-sent append and answers with that append's result. So the common case, a
        // key not seen before on a loaded stream, costs no lookup.
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
                    let loaded = self.load_retrying(stream_id).await?;
                    (loaded.state, loaded.version)
                }
            };
            if unverified
                && let Some(key) = key
                && let Some(outcome) = self.recorded_outcome(key, stream_id).await?
            {
                if version > 0 {
                    self.cache_put(stream_id, state, version);
                }
                return Ok(outcome);
            }
            match command.expect() {
                Expect::New if version > 0 => {
                    self.cache_put(stream_id, state, version);
                    let exists = CommandError::AlreadyExists {
                        stream_id: stream_id.to_owned(),
                        version,
                    };
                    return self.first_outcome_or(key, stream_id, Err(exists)).await;
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
                    let refused = Err(CommandError::Rejected(error));
                    return self.first_outcome_or(key, stream_id, refused).await;
                }
                Ok(events) => events,
            };
            if decided.is_empty() {
                self.cache_put(stream_id, state, version);
                let nothing = Ok(CommandOutcome {
                    stream_id: stream_id.to_owned(),
                    stream_version: version,
                    position: None,
                    events: Vec::new(),
                    replayed: false,
                });
                return self.first_outcome_or(key, stream_id, nothing).await;
            }
            let new_events = decided
                .iter()
                .enumerate()
                .map(|(index, event)| {
                    let encoded = event.encode()?;
                    let mut new = NewEvent::new(
                        encoded.event_type,
                        encoded.schema_version,
                        encoded.payload,
                        metadata.clone(),
                    );
                    if let Some(key) = key {
                        new.event_id = keyed_event_id(stream_id, key, index);
                    }
                    Ok(new)
                })
                .collect::<Result<Vec<_>, EncodeError>>()?;
            let event_ids: Vec<Uuid> = new_events.iter().map(|e| e.event_id).collect();
            match self.append(stream_id, version, new_events).await {
                Ok(appended) => {
                    tracing::Span::current().record("version", appended.stream_version);
                    for event in &decided {
                        state.apply_event(event);
                    }
                    let last_event_id = event_ids[event_ids.len() - 1];
                    self.snapshot_if_due(
                        stream_id,
                        &state,
                        version,
                        appended.stream_version,
                        last_event_id,
                    )
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
                        replayed: false,
                    });
                }
                // Another execution with this key recorded its events meanwhile.
                Err(error @ StoreError::DuplicateEventId { .. }) if key.is_some() => {
                    let key = key.unwrap_or_default();
                    return match self.recorded_outcome(key, stream_id).await? {
                        Some(outcome) => Ok(outcome),
                        None => Err(CommandError::Store(error)),
                    };
                }
                Err(StoreError::WrongExpectedVersion { actual, .. }) if assumed_new => {
                    let exists = CommandError::AlreadyExists {
                        stream_id: stream_id.to_owned(),
                        version: actual,
                    };
                    return self.first_outcome_or(key, stream_id, Err(exists)).await;
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
                // The append failed for good, or its outcome is still unknown after the
                // retries: the state taken out of the cache stays out, and the next command
                // loads the stream.
                Err(error) => return Err(CommandError::Store(error)),
            }
        }
    }

    /// The first outcome of the command with `key` on `stream_id` if it recorded events,
    /// else `otherwise`.
    async fn first_outcome_or(
        &self,
        key: Option<&str>,
        stream_id: &str,
        otherwise: Result<CommandOutcome<A::Event>, CommandError<A::Error>>,
    ) -> Result<CommandOutcome<A::Event>, CommandError<A::Error>> {
        if let Some(key) = key
            && let Some(outcome) = self.recorded_outcome(key, stream_id).await?
        {
            return Ok(outcome);
        }
        otherwise
    }

    /// What the command with `key` recorded on `stream_id`, if it did: its events, found by
    /// their ids and read back.
    async fn recorded_outcome(
        &self,
        key: &str,
        stream_id: &str,
    ) -> Result<Option<CommandOutcome<A::Event>>, CommandError<A::Error>> {
        let first = keyed_event_id(stream_id, key, 0);
        let located = self.store.locate_events(&[first]).await?;
        let Some(location) = located.into_iter().find(|l| l.stream_id == stream_id) else {
            return Ok(None);
        };
        let mut events = Vec::new();
        let mut from = location.stream_version;
        'read: loop {
            let batch = self.store.read_stream(stream_id, from, 64).await?;
            for recorded in &batch {
                if recorded.event_id != keyed_event_id(stream_id, key, events.len()) {
                    break 'read;
                }
                let event = A::Event::decode_recorded(recorded).map_err(LoadError::Decode)?;
                events.push(Envelope {
                    position: recorded.position,
                    stream_id: recorded.stream_id.clone(),
                    stream_version: recorded.stream_version,
                    event_id: recorded.event_id,
                    metadata: recorded.metadata.clone(),
                    recorded_at: recorded.recorded_at,
                    event,
                });
            }
            if batch.len() < 64 {
                break;
            }
            from += 64;
        }
        let last = events.last().map(|e| (e.stream_version, e.position));
        Ok(Some(CommandOutcome {
            stream_id: stream_id.to_owned(),
            stream_version: last.map_or(location.stream_version, |(version, _)| version),
            position: last.map(|(_, position)| position),
            events,
            replayed: true,
        }))
    }

    /// Loads the stream for a decision; a transient failure of the store is retried per the
    /// [`RetryPolicy`](crate::RetryPolicy) (a read changes nothing).
    async fn load_retrying(&self, stream_id: &str) -> Result<crate::Loaded<A>, LoadError> {
        let mut failures = 0;
        loop {
            match self.load_stream(stream_id, u64::MAX, true).await {
                Err(LoadError::Store(error))
                    if error.is_transient() && failures + 1 < self.retry.max_attempts() =>
                {
                    failures += 1;
                    tracing::warn!(failures, %error, "load failed; retrying");
                    let pause = self.retry.backoff_before(failures);
                    if !pause.is_zero() {
                        tokio::time::sleep(pause).await;
                    }
                }
                loaded => return loaded,
            }
        }
    }

    /// Appends the decided events at `version`; a transient failure (the store
    /// unavailable, or the outcome unknown after a connection broke mid-append) is retried
    /// with the same events, the same ids, per the [`RetryPolicy`](crate::RetryPolicy): a
    /// store recognises a re-sent append that had committed and reports its first result,
    /// so the events are recorded once.
    async fn append(
        &self,
        stream_id: &str,
        version: u64,
        events: Vec<NewEvent>,
    ) -> Result<crate::store::AppendResult, StoreError> {
        let attempts = self.retry.max_attempts();
        let (mut events, mut failures) = (events, 0);
        loop {
            // A copy for a retry, while one is left.
            let copy = (failures + 1 < attempts).then(|| events.clone());
            match self
                .store
                .append(stream_id, ExpectedVersion::Exact(version), events)
                .await
            {
                Err(error) if error.is_transient() => {
                    failures += 1;
                    let Some(copy) = copy else {
                        return Err(error);
                    };
                    tracing::warn!(failures, %error, "append failed; retrying with the same events");
                    events = copy;
                    let pause = self.retry.backoff_before(failures);
                    if !pause.is_zero() {
                        tokio::time::sleep(pause).await;
                    }
                }
                appended => return appended,
            }
        }
    }

    async fn snapshot_if_due(
        &self,
        stream_id: &str,
        state: &A,
        old_version: u64,
        new_version: u64,
        last_event_id: Uuid,
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
            event_id: last_event_id,
            schema_version: format.version,
            shape: format.shape,
            payload,
            taken_at: Utc::now(),
        };
        if let Err(error) = self.store.save_snapshot(snapshot).await {
            tracing::warn!(stream_id, %error, "snapshot not saved");
        }
    }
}

/// The namespace of the ids of events recorded by keyed commands.
const KEYED_COMMANDS: Uuid = Uuid::from_u128(0x6a1c_52e4_93b7_4f0e_a8d2_1c5e_7b30_9f41);

/// The id of the `index`-th event a command with idempotency key `key` records on
/// `stream_id`: the same at every execution, so the store's unique event ids make the
/// command's append happen once.
fn keyed_event_id(stream_id: &str, key: &str, index: usize) -> Uuid {
    let mut name = Vec::with_capacity(stream_id.len() + 1 + key.len());
    name.extend_from_slice(stream_id.as_bytes());
    name.push(0);
    name.extend_from_slice(key.as_bytes());
    let command = Uuid::new_v5(&KEYED_COMMANDS, &name);
    Uuid::new_v5(&command, &(index as u64).to_be_bytes())
}
