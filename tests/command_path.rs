//! The command path of `Repository` against `InMemoryStore`, with the bank domain: the
//! outcome, the expected-stream rules, rejections, metadata, conflict retry, snapshots,
//! temporal loads and batched reads.
//!
//! Every test uses its own store, so none depends on another's data.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use annals::store::{
    AppendResult, EventFilter, EventStore, ExpectedVersion, InMemoryStore, Metadata, NewEvent,
    RecordedEvent, Snapshot, SnapshotStore, StoreError,
};
use annals::{
    Aggregate, Apply, Command, CommandError, Event, Handle, Repository, RetryPolicy, SnapshotPolicy,
};
use annals_examples::bank::{
    Account, AccountCommand, AccountEvent, BankError, Close, Closed, Deposit, Deposited, Open,
    Opened, Withdraw, Withdrawn,
};
use chrono::{TimeDelta, Utc};
use serde::{Deserialize, Serialize};

type Accounts<S = InMemoryStore> = Repository<Account, S>;

fn open(account: &str) -> Open {
    Open {
        account: account.into(),
        owner: format!("owner of {account}"),
    }
}

fn deposit(account: &str, amount: i64) -> Deposit {
    Deposit {
        account: account.into(),
        amount,
        reference: format!("deposit of {amount}"),
    }
}

fn withdraw(account: &str, amount: i64) -> Withdraw {
    Withdraw {
        account: account.into(),
        amount,
    }
}

async fn stream(store: &InMemoryStore, stream_id: &str) -> Vec<RecordedEvent> {
    store.read_stream(stream_id, 1, usize::MAX).await.unwrap()
}

/// An account opened with the given deposits, through `accounts`.
async fn opened_with<S: EventStore + SnapshotStore>(
    accounts: &Accounts<S>,
    account: &str,
    deposits: &[i64],
) {
    accounts.execute(open(account)).await.unwrap();
    for &amount in deposits {
        accounts.execute(deposit(account, amount)).await.unwrap();
    }
}

// ---------------------------------------------------------------------------------------
// Outcome
// ---------------------------------------------------------------------------------------

/// The outcome carries the new stream version and the global position of the last event.
#[tokio::test]
async fn outcome_carries_new_version_and_last_position() {
    let store = InMemoryStore::new();
    let accounts = Accounts::new(store.clone());
    // Another stream first, so global positions and stream versions differ.
    opened_with(&accounts, "other", &[5, 6]).await;

    let opened = accounts.execute(open("a1")).await.unwrap();
    assert_eq!(opened.stream_id, "account-a1");
    assert_eq!(opened.stream_version, 1);
    assert_eq!(opened.position, Some(4));

    let deposited = accounts.execute(deposit("a1", 10)).await.unwrap();
    assert_eq!(deposited.stream_version, 2);
    assert_eq!(deposited.position, Some(5));
    assert_eq!(
        deposited.position,
        deposited.events.last().map(|e| e.position)
    );
    assert_eq!(store.head_position().await.unwrap(), 5);
}

/// The outcome's envelopes match what `read_stream` returns: ids, positions, versions,
/// metadata, timestamps and the decoded events.
#[tokio::test]
async fn outcome_events_match_the_recorded_events() {
    let store = InMemoryStore::new();
    let accounts = Accounts::new(store.clone());
    accounts.execute(open("a2")).await.unwrap();
    let outcome = accounts
        .execute(AccountCommand::from(deposit("a2", 25)))
        .await
        .unwrap();

    let recorded = stream(&store, "account-a2").await;
    assert_eq!(outcome.events.len(), 1);
    let (envelope, stored) = (&outcome.events[0], &recorded[1]);
    assert_eq!(envelope.position, stored.position);
    assert_eq!(envelope.stream_id, stored.stream_id);
    assert_eq!(envelope.stream_version, stored.stream_version);
    assert_eq!(envelope.event_id, stored.event_id);
    assert_eq!(envelope.metadata, stored.metadata);
    assert_eq!(envelope.recorded_at, stored.recorded_at);
    assert_eq!(
        envelope.event,
        AccountEvent::decode_recorded(stored).unwrap()
    );
    assert_eq!(
        envelope.event,
        AccountEvent::from(Deposited {
            amount: 25,
            reference: "deposit of 25".into()
        })
    );
    assert_eq!(stored.event_type, "Deposited");
    assert_eq!(stored.schema_version, 2);
}

/// A command recording several events returns one envelope per event, with consecutive
/// versions and positions that match the store.
#[tokio::test]
async fn outcome_of_a_multi_event_command_matches_the_store() {
    let store = InMemoryStore::new();
    let tallies = Repository::<Tally, _>::new(store.clone());
    tallies.execute(Add::new("t1", 2)).await.unwrap();
    let outcome = tallies.execute(Add::new("t1", 3)).await.unwrap();

    assert_eq!(outcome.stream_version, 5);
    let recorded = stream(&store, "tally-t1").await;
    let versions: Vec<u64> = outcome.events.iter().map(|e| e.stream_version).collect();
    assert_eq!(versions, [3, 4, 5]);
    for (envelope, stored) in outcome.events.iter().zip(&recorded[2..]) {
        assert_eq!(envelope.position, stored.position);
        assert_eq!(envelope.event_id, stored.event_id);
        assert_eq!(envelope.metadata, stored.metadata);
        assert_eq!(envelope.event, TallyEvent::decode_recorded(stored).unwrap());
    }
    assert_eq!(outcome.position, Some(recorded[4].position));
}

// ---------------------------------------------------------------------------------------
// Expected stream state, rejections, empty decisions
// ---------------------------------------------------------------------------------------

/// A creation command (`expect = new`) on an existing stream is `AlreadyExists`, and
/// records nothing.
#[tokio::test]
async fn creation_command_on_existing_stream_is_already_exists() {
    let store = InMemoryStore::new();
    let accounts = Accounts::new(store.clone());
    opened_with(&accounts, "a3", &[7]).await;

    let error = accounts.execute(open("a3")).await.unwrap_err();
    assert!(
        matches!(&error, CommandError::AlreadyExists { stream_id, version: 2 } if stream_id == "account-a3"),
        "{error:?}"
    );
    assert_eq!(store.stream_version("account-a3").await.unwrap(), 2);
}

/// A command on an existing stream (the default) is `NotFound` when there is no stream, and
/// creates nothing.
#[tokio::test]
async fn command_on_missing_stream_is_not_found() {
    let store = InMemoryStore::new();
    let accounts = Accounts::new(store.clone());

    let error = accounts.execute(deposit("nobody", 5)).await.unwrap_err();
    assert!(
        matches!(&error, CommandError::NotFound { stream_id } if stream_id == "account-nobody"),
        "{error:?}"
    );
    assert_eq!(store.head_position().await.unwrap(), 0);
}

/// A domain rejection is `Rejected` with the aggregate's own error, and nothing is appended.
#[tokio::test]
async fn domain_rejection_is_rejected_and_appends_nothing() {
    let store = InMemoryStore::new();
    let accounts = Accounts::new(store.clone());
    opened_with(&accounts, "a4", &[10]).await;

    let error = accounts.execute(withdraw("a4", 11)).await.unwrap_err();
    assert!(
        matches!(
            error,
            CommandError::Rejected(BankError::InsufficientFunds {
                balance: 10,
                requested: 11
            })
        ),
        "{error:?}"
    );
    let error = accounts.execute(deposit("a4", 0)).await.unwrap_err();
    assert!(
        matches!(
            error,
            CommandError::Rejected(BankError::NonPositiveAmount(0))
        ),
        "{error:?}"
    );
    assert_eq!(store.stream_version("account-a4").await.unwrap(), 2);
    assert_eq!(store.head_position().await.unwrap(), 2);
}

/// A decision with no events appends nothing: the outcome keeps the version, has no
/// position and no events, and the log is unchanged.
#[tokio::test]
async fn decision_without_events_appends_nothing() {
    let store = InMemoryStore::new();
    let tallies = Repository::<Tally, _>::new(store.clone());
    tallies.execute(Add::new("t2", 2)).await.unwrap();

    let outcome = tallies.execute(Add::new("t2", 0)).await.unwrap();
    assert_eq!(outcome.stream_id, "tally-t2");
    assert_eq!(outcome.stream_version, 2);
    assert_eq!(outcome.position, None);
    assert!(outcome.events.is_empty());
    assert_eq!(store.head_position().await.unwrap(), 2);
}

/// A decision with no events on a stream that does not exist (`expect = any`) creates no
/// stream.
#[tokio::test]
async fn decision_without_events_on_a_new_stream_creates_nothing() {
    let store = InMemoryStore::new();
    let tallies = Repository::<Tally, _>::new(store.clone());

    let outcome = tallies.execute(Add::new("t3", 0)).await.unwrap();
    assert_eq!((outcome.stream_version, outcome.position), (0, None));
    assert_eq!(store.stream_version("tally-t3").await.unwrap(), 0);
    assert_eq!(store.head_position().await.unwrap(), 0);
}

/// A decided event that does not encode is `CommandError::Encode` naming its type, and
/// nothing of the command is appended (not even the events before it).
#[tokio::test]
async fn encode_failure_is_encode_error_and_appends_nothing() {
    let store = InMemoryStore::new();
    let tallies = Repository::<Tally, _>::new(store.clone());
    tallies.execute(Add::new("t5", 1)).await.unwrap();

    let error = tallies
        .execute(Tag { tally: "t5".into() })
        .await
        .unwrap_err();
    match &error {
        CommandError::Encode(encode) => assert_eq!(encode.event_type, "Tagged"),
        other => panic!("expected CommandError::Encode, got {other:?}"),
    }
    assert!(error.to_string().contains("`Tagged`"), "{error}");
    assert_eq!(store.head_position().await.unwrap(), 1);
}

// ---------------------------------------------------------------------------------------
// Metadata
// ---------------------------------------------------------------------------------------

/// Without metadata, correlation and causation are one fresh command id, the same on every
/// event of the command and different for the next command.
#[tokio::test]
async fn metadata_defaults_to_one_fresh_command_id() {
    let store = InMemoryStore::new();
    let tallies = Repository::<Tally, _>::new(store.clone());
    tallies.execute(Add::new("t4", 2)).await.unwrap();
    tallies.execute(Add::new("t4", 1)).await.unwrap();

    let recorded = stream(&store, "tally-t4").await;
    let first = &recorded[0].metadata;
    assert!(first.correlation_id.is_some());
    assert_eq!(first.correlation_id, first.causation_id);
    assert!(first.extra.is_empty());
    // Both events of the first command share the command id.
    assert_eq!(recorded[1].metadata, *first);
    // The next command has its own.
    let second = &recorded[2].metadata;
    assert_eq!(second.correlation_id, second.causation_id);
    assert_ne!(second.correlation_id, first.correlation_id);
}

/// An explicit correlation id and extra key/values are kept; causation is still the fresh
/// command id.
#[tokio::test]
async fn explicit_correlation_and_extra_are_kept() {
    let store = InMemoryStore::new();
    let accounts = Accounts::new(store.clone());
    let opened = accounts.execute(open("a5")).await.unwrap();
    let correlation = annals::Uuid::now_v7();

    let metadata = Metadata::default()
        .correlated_with(correlation)
        .with("tenant", "acme")
        .with("user", "ada");
    let outcome = accounts
        .execute_with(deposit("a5", 3), metadata)
        .await
        .unwrap();

    let recorded = &stream(&store, "account-a5").await[1];
    assert_eq!(recorded.metadata, outcome.events[0].metadata);
    assert_eq!(recorded.metadata.correlation_id, Some(correlation));
    // The causation id is the fresh command id: not the correlation, not the last command's.
    let causation = recorded.metadata.causation_id.expect("a causation id");
    assert_ne!(causation, correlation);
    assert_ne!(Some(causation), opened.events[0].metadata.causation_id);
    assert_eq!(recorded.metadata.extra.len(), 2);
    assert_eq!(recorded.metadata.extra["tenant"], "acme");
    assert_eq!(recorded.metadata.extra["user"], "ada");
}

/// An explicit causation id (e.g. the event that triggered the command) is kept, and the
/// correlation id then defaults to the fresh command id.
#[tokio::test]
async fn explicit_causation_is_kept() {
    let store = InMemoryStore::new();
    let accounts = Accounts::new(store.clone());
    let opened = accounts.execute(open("a6")).await.unwrap();
    let cause = opened.events[0].event_id;

    let outcome = accounts
        .execute_with(deposit("a6", 3), Metadata::default().caused_by(cause))
        .await
        .unwrap();

    let metadata = &outcome.events[0].metadata;
    assert_eq!(metadata.causation_id, Some(cause));
    assert!(metadata.correlation_id.is_some());
    assert_ne!(metadata.correlation_id, Some(cause));
}

// ---------------------------------------------------------------------------------------
// Conflicts
// ---------------------------------------------------------------------------------------

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An `InMemoryStore` with a concurrent writer: before each of the first `interferences`
/// appends, it appends a foreign event to the same stream, so the caller's expected
/// version is stale. It counts append attempts, and yields after each stream read as a
/// store doing I/O would, so concurrent commands interleave between load and append.
///
/// The store traits are `#[async_trait]`; this crate has no `async-trait` dependency, so
/// the methods are written in the form the attribute expands to.
#[derive(Clone)]
struct RacingStore {
    inner: InMemoryStore,
    foreign: NewEvent,
    interferences: Arc<AtomicU32>,
    appends: Arc<AtomicU32>,
}

impl RacingStore {
    fn new(inner: InMemoryStore, foreign: AccountEvent, interferences: u32) -> Self {
        let encoded = foreign.encode().unwrap();
        RacingStore {
            inner,
            foreign: NewEvent::new(
                encoded.event_type,
                encoded.schema_version,
                encoded.payload,
                Metadata::default().with("writer", "foreign"),
            ),
            interferences: Arc::new(AtomicU32::new(interferences)),
            appends: Arc::new(AtomicU32::new(0)),
        }
    }

    /// A store with no foreign writer, that only counts appends and yields after reads.
    fn counting(inner: InMemoryStore) -> Self {
        RacingStore::new(inner, AccountEvent::from(Closed {}), 0)
    }

    /// How many appends the repository attempted.
    fn appends(&self) -> u32 {
        self.appends.load(Ordering::SeqCst)
    }
}

impl EventStore for RacingStore {
    fn append<'life0, 'life1, 'async_trait>(
        &'life0 self,
        stream_id: &'life1 str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> BoxFuture<'async_trait, Result<AppendResult, StoreError>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move {
            self.appends.fetch_add(1, Ordering::SeqCst);
            let interfere = self
                .interferences
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if interfere {
                let foreign = NewEvent::new(
                    self.foreign.event_type.clone(),
                    self.foreign.schema_version,
                    self.foreign.payload.clone(),
                    self.foreign.metadata.clone(),
                );
                self.inner
                    .append(stream_id, ExpectedVersion::Any, vec![foreign])
                    .await?;
            }
            self.inner.append(stream_id, expected, events).await
        })
    }

    fn read_stream<'life0, 'life1, 'async_trait>(
        &'life0 self,
        stream_id: &'life1 str,
        from_version: u64,
        max_count: usize,
    ) -> BoxFuture<'async_trait, Result<Vec<RecordedEvent>, StoreError>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move {
            let read = self
                .inner
                .read_stream(stream_id, from_version, max_count)
                .await;
            // A real store awaits I/O here: let other tasks run between load and append.
            tokio::task::yield_now().await;
            read
        })
    }

    fn read_all<'life0, 'life1, 'async_trait>(
        &'life0 self,
        after_position: u64,
        max_count: usize,
        filter: &'life1 EventFilter,
    ) -> BoxFuture<'async_trait, Result<Vec<RecordedEvent>, StoreError>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        self.inner.read_all(after_position, max_count, filter)
    }

    fn stream_version<'life0, 'life1, 'async_trait>(
        &'life0 self,
        stream_id: &'life1 str,
    ) -> BoxFuture<'async_trait, Result<u64, StoreError>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        self.inner.stream_version(stream_id)
    }

    fn head_position<'life0, 'async_trait>(
        &'life0 self,
    ) -> BoxFuture<'async_trait, Result<u64, StoreError>>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        self.inner.head_position()
    }

    fn catalog(&self) -> &annals::store::Catalog {
        self.inner.catalog()
    }
}

impl SnapshotStore for RacingStore {
    fn load_snapshot<'life0, 'life1, 'async_trait>(
        &'life0 self,
        stream_id: &'life1 str,
    ) -> BoxFuture<'async_trait, Result<Option<Snapshot>, StoreError>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        self.inner.load_snapshot(stream_id)
    }

    fn save_snapshot<'life0, 'async_trait>(
        &'life0 self,
        snapshot: Snapshot,
    ) -> BoxFuture<'async_trait, Result<(), StoreError>>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        self.inner.save_snapshot(snapshot)
    }
}

/// An account opened with `balance`, behind a store whose concurrent writer records
/// `foreign` before each of the next `interferences` appends.
async fn racing_account(
    account: &str,
    balance: i64,
    foreign: AccountEvent,
    interferences: u32,
) -> (InMemoryStore, RacingStore) {
    let inner = InMemoryStore::new();
    opened_with(&Accounts::new(inner.clone()), account, &[balance]).await;
    let racing = RacingStore::new(inner.clone(), foreign, interferences);
    (inner, racing)
}

/// After a conflict the command is reloaded, decided again and appended after the
/// concurrent writer's event.
#[tokio::test]
async fn conflict_is_retried_on_reloaded_state_and_succeeds() {
    let foreign = AccountEvent::from(Deposited {
        amount: 1000,
        reference: "concurrent".into(),
    });
    let (inner, racing) = racing_account("c1", 100, foreign, 1).await;
    let accounts = Accounts::new(racing.clone());

    let outcome = accounts.execute(deposit("c1", 5)).await.unwrap();

    assert_eq!(racing.appends(), 2, "one conflict, one successful retry");
    // Opened, Deposited(100), the foreign Deposited(1000), ours.
    assert_eq!(outcome.stream_version, 4);
    assert_eq!(outcome.events[0].stream_version, 4);
    let recorded = stream(&inner, "account-c1").await;
    assert_eq!(recorded.len(), 4);
    assert_eq!(recorded[2].metadata.extra["writer"], "foreign");
    assert_eq!(recorded[3].event_id, outcome.events[0].event_id);
    let loaded = accounts.load("c1").await.unwrap();
    assert_eq!(loaded.state.balance, 1105);
}

/// The retry decides on the reloaded state: a withdrawal that the stale state allowed is
/// rejected once the concurrent withdrawal is seen.
#[tokio::test]
async fn conflict_retry_decides_on_reloaded_state() {
    let foreign = AccountEvent::from(Withdrawn { amount: 80 });
    let (inner, racing) = racing_account("c2", 100, foreign, 1).await;
    let accounts = Accounts::new(racing.clone());

    let error = accounts.execute(withdraw("c2", 50)).await.unwrap_err();

    assert!(
        matches!(
            error,
            CommandError::Rejected(BankError::InsufficientFunds {
                balance: 20,
                requested: 50
            })
        ),
        "{error:?}"
    );
    assert_eq!(racing.appends(), 1, "the retry appended nothing");
    assert_eq!(inner.stream_version("account-c2").await.unwrap(), 3);
}

/// Two creations race: the one that loses the append is reloaded and reported as
/// `AlreadyExists`, not as a conflict, and the winner's event stands alone.
#[tokio::test]
async fn losing_a_creation_race_is_already_exists() {
    let inner = InMemoryStore::new();
    let winner = AccountEvent::from(Opened {
        owner: "the winner".into(),
    });
    let racing = RacingStore::new(inner.clone(), winner, 1);
    let accounts = Accounts::new(racing.clone());

    let error = accounts.execute(open("c5")).await.unwrap_err();

    assert!(
        matches!(&error, CommandError::AlreadyExists { stream_id, version: 1 } if stream_id == "account-c5"),
        "{error:?}"
    );
    assert_eq!(racing.appends(), 1);
    let loaded = Accounts::new(inner).load("c5").await.unwrap();
    assert_eq!(
        (loaded.version, loaded.state.owner.as_str()),
        (1, "the winner")
    );
}

/// With `RetryPolicy::never()` the first conflict is returned as `Conflict`, and nothing of
/// the command is recorded.
#[tokio::test]
async fn conflict_without_retry_is_conflict() {
    let foreign = AccountEvent::from(Deposited {
        amount: 1,
        reference: "concurrent".into(),
    });
    let (inner, racing) = racing_account("c3", 10, foreign, 1).await;
    let accounts = Accounts::new(racing.clone()).with_retry(RetryPolicy::never());

    let error = accounts.execute(deposit("c3", 5)).await.unwrap_err();

    assert!(
        matches!(&error, CommandError::Conflict { stream_id, attempts: 1 } if stream_id == "account-c3"),
        "{error:?}"
    );
    assert_eq!(racing.appends(), 1);
    // Opened, Deposited(10) and the foreign event only.
    let recorded = stream(&inner, "account-c3").await;
    assert_eq!(recorded.len(), 3);
    assert_eq!(recorded[2].metadata.extra["writer"], "foreign");
}

/// A writer that wins every race exhausts the retry policy: `Conflict` after exactly
/// `max_attempts` attempts.
#[tokio::test]
async fn conflict_after_max_attempts_is_conflict() {
    let foreign = AccountEvent::from(Deposited {
        amount: 1,
        reference: "concurrent".into(),
    });
    let (inner, racing) = racing_account("c4", 10, foreign, u32::MAX).await;
    let policy = RetryPolicy::default()
        .with_max_attempts(3)
        .with_backoff(Duration::ZERO, Duration::from_millis(2));
    let accounts = Accounts::new(racing.clone()).with_retry(policy);

    let error = accounts.execute(deposit("c4", 5)).await.unwrap_err();

    assert!(
        matches!(error, CommandError::Conflict { attempts: 3, .. }),
        "{error:?}"
    );
    assert_eq!(racing.appends(), 3);
    // Opened, Deposited(10) and three foreign events.
    assert_eq!(inner.stream_version("account-c4").await.unwrap(), 5);
}

/// 16 tasks deposit into one account at once: each deposit lands exactly once or returns
/// `Conflict`; the balance is the sum of the landed deposits and the stream is gap-free.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_deposits_land_once_or_conflict() {
    let store = InMemoryStore::new();
    Accounts::new(store.clone())
        .execute(open("hot"))
        .await
        .unwrap();
    // The store counts append attempts, and yields between a load and the append.
    let racing = RacingStore::counting(store.clone());
    let accounts = Accounts::new(racing.clone());
    // Every task waits until all have started, so the commands overlap.
    let started = Arc::new(AtomicU32::new(0));
    let tasks: Vec<_> = (0..16u32)
        .map(|task| {
            let accounts = accounts.clone();
            let started = Arc::clone(&started);
            tokio::spawn(async move {
                started.fetch_add(1, Ordering::SeqCst);
                while started.load(Ordering::SeqCst) < 16 {
                    tokio::task::yield_now().await;
                }
                let deposit = Deposit {
                    account: "hot".into(),
                    amount: 1 << task,
                    reference: format!("task {task}"),
                };
                (task, accounts.execute(deposit).await)
            })
        })
        .collect();

    let mut landed = Vec::new();
    let mut landed_versions = Vec::new();
    for task in tasks {
        let (task, result) = task.await.unwrap();
        match result {
            Ok(outcome) => {
                assert_eq!(outcome.events.len(), 1);
                landed.push(task);
                landed_versions.push(outcome.stream_version);
            }
            Err(CommandError::Conflict { attempts: 5, .. }) => {}
            Err(other) => panic!("task {task}: unexpected error {other:?}"),
        }
    }

    // Each conflicted task tried to append `max_attempts` times; each landed one at least once.
    let conflicted = 16 - landed.len() as u32;
    assert!(racing.appends() >= landed.len() as u32 + 5 * conflicted);
    assert!(racing.appends() <= 16 * 5);
    let loaded = accounts.load("hot").await.unwrap();
    let expected: i64 = landed.iter().map(|task| 1i64 << task).sum();
    assert_eq!(loaded.state.balance, expected);
    assert_eq!(loaded.version, 1 + landed.len() as u64);

    let recorded = stream(&store, "account-hot").await;
    let versions: Vec<u64> = recorded.iter().map(|e| e.stream_version).collect();
    assert_eq!(versions, (1..=1 + landed.len() as u64).collect::<Vec<_>>());
    landed_versions.sort_unstable();
    assert_eq!(landed_versions, versions[1..]);
    // Each landed task recorded exactly one deposit, and no other task did.
    let mut references: Vec<String> = recorded[1..]
        .iter()
        .map(|e| match AccountEvent::decode_recorded(e).unwrap() {
            AccountEvent::Deposited(d) => d.reference,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    references.sort();
    let mut expected_references: Vec<String> =
        landed.iter().map(|task| format!("task {task}")).collect();
    expected_references.sort();
    assert_eq!(references, expected_references);
}

// ---------------------------------------------------------------------------------------
// Snapshots
// ---------------------------------------------------------------------------------------

/// With `EveryNEvents(3)`, a snapshot is saved when the version reaches 3, not before, and
/// not again until it reaches 6.
#[tokio::test]
async fn snapshot_is_saved_when_version_crosses_a_multiple_of_n() {
    let store = InMemoryStore::new();
    let accounts = Accounts::new(store.clone()).with_snapshots(SnapshotPolicy::EveryNEvents(3));

    accounts.execute(open("s1")).await.unwrap();
    accounts.execute(deposit("s1", 10)).await.unwrap();
    assert_eq!(store.load_snapshot("account-s1").await.unwrap(), None);

    accounts.execute(deposit("s1", 20)).await.unwrap();
    let snapshot = store.load_snapshot("account-s1").await.unwrap().unwrap();
    assert_eq!(snapshot.stream_version, 3);
    assert_eq!(snapshot.schema_version, 1);

    accounts.execute(deposit("s1", 30)).await.unwrap();
    accounts.execute(deposit("s1", 40)).await.unwrap();
    let snapshot = store.load_snapshot("account-s1").await.unwrap().unwrap();
    assert_eq!(snapshot.stream_version, 3);

    accounts.execute(deposit("s1", 50)).await.unwrap();
    let snapshot = store.load_snapshot("account-s1").await.unwrap().unwrap();
    assert_eq!(snapshot.stream_version, 6);
}

/// A command recording several events snapshots when it jumps over a multiple of n
/// (version 2 → 4 crosses 3), at the new version.
#[tokio::test]
async fn snapshot_is_saved_when_a_multi_event_command_jumps_over_a_multiple() {
    let store = InMemoryStore::new();
    let tallies =
        Repository::<Tally, _>::new(store.clone()).with_snapshots(SnapshotPolicy::EveryNEvents(3));

    tallies.execute(Add::new("s2", 2)).await.unwrap();
    assert_eq!(store.load_snapshot("tally-s2").await.unwrap(), None);
    tallies.execute(Add::new("s2", 2)).await.unwrap();
    let snapshot = store.load_snapshot("tally-s2").await.unwrap().unwrap();
    assert_eq!(snapshot.stream_version, 4);
    let loaded = tallies.load("s2").await.unwrap();
    assert_eq!(loaded.snapshot_version, Some(4));
    assert_eq!(loaded.state.count, 4);
}

/// `load` starts from the snapshot and reports its version; the state equals the one
/// rebuilt from events alone.
#[tokio::test]
async fn load_uses_the_snapshot_and_equals_load_from_events() {
    let store = InMemoryStore::new();
    let accounts = Accounts::new(store.clone()).with_snapshots(SnapshotPolicy::EveryNEvents(3));
    opened_with(&accounts, "s3", &[10, 20, 30, 40]).await;
    accounts.execute(withdraw("s3", 15)).await.unwrap();

    let loaded = accounts.load("s3").await.unwrap();
    assert_eq!(loaded.snapshot_version, Some(6));
    assert_eq!(loaded.version, 6);

    accounts.execute(deposit("s3", 1)).await.unwrap();
    let loaded = accounts.load("s3").await.unwrap();
    let rebuilt = accounts.load_from_events("s3").await.unwrap();
    assert_eq!(loaded.snapshot_version, Some(6));
    assert_eq!(loaded.version, 7);
    assert_eq!(rebuilt.snapshot_version, None);
    assert_eq!(rebuilt.version, 7);
    assert_eq!(loaded.state, rebuilt.state);
    assert_eq!(loaded.state.balance, 86);
}

/// Without a snapshot policy no snapshot is taken, even for an aggregate that supports them.
#[tokio::test]
async fn no_snapshot_without_a_policy() {
    let store = InMemoryStore::new();
    let accounts = Accounts::new(store.clone());
    opened_with(&accounts, "s4", &[1, 2, 3, 4, 5]).await;

    assert_eq!(store.load_snapshot("account-s4").await.unwrap(), None);
    assert_eq!(accounts.load("s4").await.unwrap().snapshot_version, None);
}

/// A snapshot of an account, as the repository would write it at `version` (the id of
/// the event there, the state's shape), with `schema_version` and `payload` as given.
async fn snapshot_of(
    store: &InMemoryStore,
    stream_id: &str,
    version: u64,
    schema_version: u32,
    payload: &[u8],
) -> Snapshot {
    let at_version = store.read_stream(stream_id, version, 1).await.unwrap();
    Snapshot {
        stream_id: stream_id.into(),
        stream_version: version,
        event_id: at_version
            .first()
            .filter(|event| event.stream_version == version)
            .map_or_else(annals::Uuid::nil, |event| event.event_id),
        schema_version,
        shape: Account::snapshot_format().unwrap().shape,
        payload: payload.to_vec(),
        taken_at: Utc::now(),
    }
}

/// A stored snapshot of another schema version is ignored: the state is rebuilt from
/// events.
#[tokio::test]
async fn snapshot_of_another_schema_version_is_ignored() {
    let store = InMemoryStore::new();
    let accounts = Accounts::new(store.clone());
    opened_with(&accounts, "s5", &[10, 20]).await;
    // Decodes fine as an `Account`, but claims another schema: must not be trusted.
    let forged = serde_json::to_vec(&Account {
        owner: "forged".into(),
        balance: 999_999,
        closed: true,
    })
    .unwrap();
    store
        .save_snapshot(snapshot_of(&store, "account-s5", 3, 99, &forged).await)
        .await
        .unwrap();

    let loaded = accounts.load("s5").await.unwrap();
    assert_eq!(loaded.snapshot_version, None);
    assert_eq!(loaded.state.balance, 30);
    assert_eq!(
        loaded.state,
        accounts.load_from_events("s5").await.unwrap().state
    );
}

/// A stored snapshot whose payload does not decode is ignored: the state is rebuilt from
/// events, and commands still run.
#[tokio::test]
async fn snapshot_that_does_not_decode_is_ignored() {
    let store = InMemoryStore::new();
    let accounts = Accounts::new(store.clone());
    opened_with(&accounts, "s6", &[10, 20]).await;
    store
        .save_snapshot(snapshot_of(&store, "account-s6", 3, 1, b"{\"balance\": \"lots\"").await)
        .await
        .unwrap();

    let loaded = accounts.load("s6").await.unwrap();
    assert_eq!(loaded.snapshot_version, None);
    assert_eq!(loaded.version, 3);
    assert_eq!(loaded.state.balance, 30);

    let outcome = accounts.execute(withdraw("s6", 30)).await.unwrap();
    assert_eq!(outcome.stream_version, 4);
}

/// A current, decodable snapshot is trusted by `load` (it is what `load` starts from) but
/// not by `load_from_events`.
#[tokio::test]
async fn valid_snapshot_is_trusted_by_load_only() {
    let store = InMemoryStore::new();
    let accounts = Accounts::new(store.clone());
    opened_with(&accounts, "s7", &[10]).await;
    let planted = serde_json::to_vec(&Account {
        owner: "planted".into(),
        balance: 500,
        closed: false,
    })
    .unwrap();
    store
        .save_snapshot(snapshot_of(&store, "account-s7", 2, 1, &planted).await)
        .await
        .unwrap();

    let loaded = accounts.load("s7").await.unwrap();
    assert_eq!(loaded.snapshot_version, Some(2));
    assert_eq!(loaded.state.owner, "planted");
    let rebuilt = accounts.load_from_events("s7").await.unwrap();
    assert_eq!(rebuilt.state.owner, "owner of s7");
    assert_eq!(rebuilt.state.balance, 10);
}

/// A snapshot claiming a version the stream never reached (a snapshot table restored
/// apart from the events, or written for the wrong stream) is not trusted: `load` gives
/// the state and version of the events, and commands still run.
#[tokio::test]
async fn snapshot_ahead_of_its_stream_is_ignored() {
    let store = InMemoryStore::new();
    let accounts = Accounts::new(store.clone());
    opened_with(&accounts, "s8", &[10, 20]).await;
    let ahead = serde_json::to_vec(&Account {
        owner: "from the future".into(),
        balance: 70,
        closed: false,
    })
    .unwrap();
    store
        .save_snapshot(snapshot_of(&store, "account-s8", 10, 1, &ahead).await)
        .await
        .unwrap();

    let loaded = accounts.load("s8").await.unwrap();
    assert_eq!(loaded.version, 3, "the stream has 3 events");
    assert_eq!(loaded.state.balance, 30);

    let outcome = accounts.execute(deposit("s8", 1)).await;
    assert_eq!(outcome.unwrap().stream_version, 4);
}

// ---------------------------------------------------------------------------------------
// Temporal loads
// ---------------------------------------------------------------------------------------

/// `load_at_version` gives the state after each version's event, from 0 (`Default`) to
/// the end, whether or not a snapshot exists below or above that version; past the end it
/// gives the current state.
#[tokio::test]
async fn load_at_version_gives_each_historical_state() {
    let store = InMemoryStore::new();
    let accounts = Accounts::new(store.clone()).with_snapshots(SnapshotPolicy::EveryNEvents(2));
    opened_with(&accounts, "h1", &[10, 20]).await;
    accounts.execute(withdraw("h1", 5)).await.unwrap();
    accounts.execute(withdraw("h1", 25)).await.unwrap();
    accounts
        .execute(Close {
            account: "h1".into(),
        })
        .await
        .unwrap();
    assert_eq!(
        store
            .load_snapshot("account-h1")
            .await
            .unwrap()
            .map(|s| s.stream_version),
        Some(6)
    );

    let balances = [0, 0, 10, 30, 25, 0, 0];
    for (version, &balance) in balances.iter().enumerate() {
        let version = version as u64;
        let loaded = accounts.load_at_version("h1", version).await.unwrap();
        assert_eq!(loaded.version, version);
        assert_eq!(loaded.state.balance, balance, "at version {version}");
        assert_eq!(loaded.state.closed, version == 6, "at version {version}");
        assert_eq!(loaded.state.owner.is_empty(), version == 0);
    }
    let past_the_end = accounts.load_at_version("h1", 100).await.unwrap();
    assert_eq!(past_the_end.version, 6);
    assert!(past_the_end.state.closed);
}

/// `load_as_of` a time between two appends gives the state before the later one; a time
/// before the first event gives `Default` at version 0.
#[tokio::test]
async fn load_as_of_gives_the_state_at_a_time() {
    let store = InMemoryStore::new();
    let accounts = Accounts::new(store.clone()).with_snapshots(SnapshotPolicy::EveryNEvents(1));
    let before_everything = Utc::now() - TimeDelta::milliseconds(1);
    tokio::time::sleep(Duration::from_millis(5)).await;
    accounts.execute(open("h2")).await.unwrap();
    accounts.execute(deposit("h2", 10)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let between = Utc::now();
    tokio::time::sleep(Duration::from_millis(5)).await;
    accounts.execute(deposit("h2", 20)).await.unwrap();

    let then = accounts.load_as_of("h2", between).await.unwrap();
    assert_eq!(then.version, 2);
    assert_eq!(then.state.balance, 10);
    assert_eq!(then.snapshot_version, None);

    let now = accounts.load_as_of("h2", Utc::now()).await.unwrap();
    assert_eq!(now.version, 3);
    assert_eq!(now.state.balance, 30);

    let before = accounts.load_as_of("h2", before_everything).await.unwrap();
    assert_eq!(before.version, 0);
    assert_eq!(before.state, Account::default());
}

/// `load_as_of` the exact `recorded_at` of an event includes that event.
#[tokio::test]
async fn load_as_of_includes_events_recorded_at_that_instant() {
    let store = InMemoryStore::new();
    let accounts = Accounts::new(store.clone());
    accounts.execute(open("h3")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let deposited = accounts.execute(deposit("h3", 10)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    accounts.execute(deposit("h3", 20)).await.unwrap();

    let at = deposited.events[0].recorded_at;
    let loaded = accounts.load_as_of("h3", at).await.unwrap();
    assert_eq!(loaded.version, 2);
    assert_eq!(loaded.state.balance, 10);
}

// ---------------------------------------------------------------------------------------
// Batched reads
// ---------------------------------------------------------------------------------------

/// A read batch smaller than the stream loads the same state, whether the stream length is
/// a multiple of the batch or not.
#[tokio::test]
async fn small_read_batch_loads_the_same_state() {
    let store = InMemoryStore::new();
    let accounts = Accounts::new(store.clone());
    let batched = Accounts::new(store.clone()).with_read_batch(2);
    opened_with(&accounts, "b1", &[1, 2, 3]).await; // 4 events: two full batches
    opened_with(&accounts, "b2", &[1, 2, 3, 4]).await; // 5 events: the last batch is short

    for id in ["b1", "b2"] {
        let expected = accounts.load(id).await.unwrap();
        assert_eq!(batched.load(id).await.unwrap(), expected);
        assert_eq!(batched.load_from_events(id).await.unwrap(), expected);
        for version in 0..=expected.version {
            assert_eq!(
                batched.load_at_version(id, version).await.unwrap(),
                accounts.load_at_version(id, version).await.unwrap(),
                "{id} at version {version}"
            );
        }
    }
}

/// Commands run through a repository with a small read batch decide on the full state.
#[tokio::test]
async fn small_read_batch_commands_see_the_whole_stream() {
    let store = InMemoryStore::new();
    let batched = Accounts::new(store.clone()).with_read_batch(1);
    opened_with(&batched, "b3", &[5, 5, 5]).await;

    let error = batched.execute(withdraw("b3", 16)).await.unwrap_err();
    assert!(
        matches!(
            error,
            CommandError::Rejected(BankError::InsufficientFunds { balance: 15, .. })
        ),
        "{error:?}"
    );
    let outcome = batched.execute(withdraw("b3", 15)).await.unwrap();
    assert_eq!(outcome.stream_version, 5);
}

// ---------------------------------------------------------------------------------------
// A tiny local domain: a tally whose `Add { n }` records n events (none when n = 0).
// ---------------------------------------------------------------------------------------

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Ticked {
    index: u64,
}

/// A payload JSON cannot encode: map keys must be strings.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Tagged {
    tags: BTreeMap<(u8, u8), u8>,
}

#[derive(Event, Clone, Debug, PartialEq)]
enum TallyEvent {
    Ticked(Ticked),
    Tagged(Tagged),
}

#[derive(Debug, thiserror::Error)]
#[error("tallies never refuse")]
struct TallyError;

#[derive(Aggregate, Default, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[aggregate(event = TallyEvent, error = TallyError, snapshot(version = 1))]
struct Tally {
    count: u64,
}

impl Apply<Ticked> for Tally {
    fn apply(&mut self, _: &Ticked) {
        self.count += 1;
    }
}

impl Apply<Tagged> for Tally {
    fn apply(&mut self, _: &Tagged) {}
}

/// Records a `Tagged` event, which does not encode.
#[derive(Command)]
#[command(aggregate = Tally, expect = any)]
struct Tag {
    #[id]
    tally: String,
}

impl Handle<Tag> for Tally {
    fn handle(&self, _: &Tag) -> Result<Vec<TallyEvent>, TallyError> {
        let tags = BTreeMap::from([((1, 2), 3)]);
        Ok(vec![
            Ticked { index: self.count }.into(),
            Tagged { tags }.into(),
        ])
    }
}

#[derive(Command)]
#[command(aggregate = Tally, expect = any)]
struct Add {
    #[id]
    tally: String,
    n: u64,
}

impl Add {
    fn new(tally: &str, n: u64) -> Self {
        Add {
            tally: tally.into(),
            n,
        }
    }
}

impl Handle<Add> for Tally {
    fn handle(&self, command: &Add) -> Result<Vec<TallyEvent>, TallyError> {
        Ok((0..command.n)
            .map(|i| {
                Ticked {
                    index: self.count + i,
                }
                .into()
            })
            .collect())
    }
}

/// The local domain is wired as the tests above assume.
#[test]
fn tally_is_wired() {
    assert_eq!(Tally::KIND, "tally");
    assert_eq!(Add::new("x", 0).expect(), annals::Expect::Any);
}
