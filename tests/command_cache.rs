//! The aggregate cache on the command path: a command on a stream the repository already
//! holds costs one append; the expected-version check catches a stale cached state.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use annals::async_trait;
use annals::store::{
    AppendResult, EventFilter, EventStore, ExpectedVersion, InMemoryStore, NewEvent, RecordedEvent,
    Snapshot, SnapshotStore, StoreError,
};
use annals::{CommandError, Repository};
use annals_examples::bank::{Account, BankError, Deposit, Open, Withdraw};

/// An in-memory store that counts the calls that would be round trips on a server.
#[derive(Clone, Default)]
struct CountingStore {
    inner: InMemoryStore,
    reads: Arc<AtomicUsize>,
    appends: Arc<AtomicUsize>,
}

impl CountingStore {
    fn round_trips(&self) -> (usize, usize) {
        (
            self.reads.load(Ordering::SeqCst),
            self.appends.load(Ordering::SeqCst),
        )
    }

    fn reset(&self) {
        self.reads.store(0, Ordering::SeqCst);
        self.appends.store(0, Ordering::SeqCst);
    }
}

#[async_trait]
impl EventStore for CountingStore {
    async fn append(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        self.appends.fetch_add(1, Ordering::SeqCst);
        self.inner.append(stream_id, expected, events).await
    }
    async fn read_stream(
        &self,
        stream_id: &str,
        from: u64,
        max: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.read_stream(stream_id, from, max).await
    }
    async fn read_all(
        &self,
        after: u64,
        max: usize,
        filter: &EventFilter,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.read_all(after, max, filter).await
    }
    async fn stream_version(&self, stream_id: &str) -> Result<u64, StoreError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.stream_version(stream_id).await
    }
    async fn head_position(&self) -> Result<u64, StoreError> {
        self.inner.head_position().await
    }
    async fn locate_events(
        &self,
        event_ids: &[annals::Uuid],
    ) -> Result<Vec<annals::store::EventLocation>, StoreError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.locate_events(event_ids).await
    }

    fn catalog(&self) -> &annals::store::Catalog {
        self.inner.catalog()
    }
}

#[async_trait]
impl SnapshotStore for CountingStore {
    async fn load_snapshot(&self, stream_id: &str) -> Result<Option<Snapshot>, StoreError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.load_snapshot(stream_id).await
    }
    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        self.inner.save_snapshot(snapshot).await
    }
}

fn open(id: &str) -> Open {
    Open {
        account: id.into(),
        owner: "Ada".into(),
    }
}

fn deposit(id: &str, amount: i64) -> Deposit {
    Deposit {
        account: id.into(),
        amount,
        reference: String::new(),
    }
}

/// With the cache on, a second command on the same account reads nothing: one append.
#[tokio::test]
async fn a_cached_aggregate_costs_one_append_and_no_read() {
    let store = CountingStore::default();
    let accounts = Repository::<Account, _>::new(store.clone()).with_cache(16);
    accounts.execute(open("a")).await.unwrap();
    store.reset();
    accounts.execute(deposit("a", 5)).await.unwrap();
    assert_eq!(store.round_trips(), (0, 1));
}

/// A keyed command on a stream it loads does not look its key up first (its events' ids,
/// derived from the key, catch a second run): it costs what the same command without a
/// key costs.
#[tokio::test]
async fn a_keyed_command_on_a_loaded_stream_costs_what_an_unkeyed_one_does() {
    let store = CountingStore::default();
    let accounts = Repository::<Account, _>::new(store.clone());
    accounts.execute(open("a")).await.unwrap();
    store.reset();
    accounts.execute(deposit("a", 5)).await.unwrap();
    let unkeyed = store.round_trips();
    store.reset();
    accounts.execute_once("k-1", deposit("a", 5)).await.unwrap();
    assert_eq!(store.round_trips(), unkeyed);
}

/// A command that creates its stream does not load it: the empty state is the only one it
/// can run on, and the append (expecting no stream) checks that.
#[tokio::test]
async fn a_creation_command_costs_one_append_and_no_read() {
    let store = CountingStore::default();
    let accounts = Repository::<Account, _>::new(store.clone());
    accounts.execute(open("a")).await.unwrap();
    assert_eq!(store.round_trips(), (0, 1));
}

/// A creation command on an existing stream still answers `AlreadyExists`, with the version.
#[tokio::test]
async fn a_creation_command_on_an_existing_stream_is_refused() {
    let store = CountingStore::default();
    let accounts = Repository::<Account, _>::new(store.clone());
    accounts.execute(open("a")).await.unwrap();
    accounts.execute(deposit("a", 1)).await.unwrap();
    let refused = accounts.execute(open("a")).await;
    assert!(
        matches!(refused, Err(CommandError::AlreadyExists { version: 2, .. })),
        "{refused:?}"
    );
}

/// Without the cache, every command loads the stream first.
#[tokio::test]
async fn without_the_cache_every_command_loads() {
    let store = CountingStore::default();
    let accounts = Repository::<Account, _>::new(store.clone());
    accounts.execute(open("a")).await.unwrap();
    store.reset();
    accounts.execute(deposit("a", 5)).await.unwrap();
    let (reads, appends) = store.round_trips();
    assert!(reads >= 1, "no read without the cache");
    assert_eq!(appends, 1);
}

/// Another writer (another process) moves the stream on: the cached state's append
/// conflicts, the repository reloads, and the command succeeds on the fresh state.
#[tokio::test]
async fn a_stale_cached_state_conflicts_then_reloads() {
    let store = CountingStore::default();
    let cached = Repository::<Account, _>::new(store.clone()).with_cache(16);
    let other_process = Repository::<Account, _>::new(store.clone());
    cached.execute(open("a")).await.unwrap();
    other_process.execute(deposit("a", 100)).await.unwrap();

    let outcome = cached.execute(deposit("a", 1)).await.unwrap();
    assert_eq!(outcome.stream_version, 3);
    assert_eq!(cached.load("a").await.unwrap().state.balance, 101);
}

/// A rejection decided on a stale cached state is decided again on the stored state: the
/// withdrawal the other process's deposit made possible goes through.
#[tokio::test]
async fn a_rejection_on_a_cached_state_is_rechecked_on_the_stored_state() {
    let store = CountingStore::default();
    let cached = Repository::<Account, _>::new(store.clone()).with_cache(16);
    let other_process = Repository::<Account, _>::new(store.clone());
    cached.execute(open("a")).await.unwrap();
    other_process.execute(deposit("a", 100)).await.unwrap();

    let outcome = cached
        .execute(Withdraw {
            account: "a".into(),
            amount: 60,
        })
        .await
        .unwrap();
    assert_eq!(outcome.stream_version, 3);
}

/// A rejection on the stored state is returned, and the state stays cached.
#[tokio::test]
async fn a_confirmed_rejection_is_returned_and_the_state_stays_cached() {
    let store = CountingStore::default();
    let accounts = Repository::<Account, _>::new(store.clone()).with_cache(16);
    accounts.execute(open("a")).await.unwrap();
    let refused = accounts
        .execute(Withdraw {
            account: "a".into(),
            amount: 1,
        })
        .await;
    assert!(matches!(
        refused,
        Err(CommandError::Rejected(BankError::InsufficientFunds { .. }))
    ));
    store.reset();
    accounts.execute(deposit("a", 5)).await.unwrap();
    assert_eq!(
        store.round_trips(),
        (0, 1),
        "the state was put back after the rejection"
    );
}

/// Beyond its capacity the cache evicts the least recently used aggregate, which then loads.
#[tokio::test]
async fn beyond_capacity_the_least_recently_used_aggregate_is_evicted() {
    let store = CountingStore::default();
    let accounts = Repository::<Account, _>::new(store.clone()).with_cache(2);
    for id in ["a", "b", "c"] {
        accounts.execute(open(id)).await.unwrap();
    }
    store.reset();
    accounts.execute(deposit("c", 1)).await.unwrap();
    assert_eq!(store.round_trips(), (0, 1), "c is cached");
    accounts.execute(deposit("a", 1)).await.unwrap();
    let (reads, _) = store.round_trips();
    assert!(reads >= 1, "a was evicted and had to load");
}

/// Clones of a repository share one cache.
#[tokio::test]
async fn clones_share_the_cache() {
    let store = CountingStore::default();
    let accounts = Repository::<Account, _>::new(store.clone()).with_cache(16);
    accounts.execute(open("a")).await.unwrap();
    let clone = accounts.clone();
    store.reset();
    clone.execute(deposit("a", 1)).await.unwrap();
    assert_eq!(store.round_trips(), (0, 1));
}

/// Concurrent commands on one cached account: each lands exactly once and the balance is
/// the sum of the deposits (the cache hands a state to one command at a time).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_commands_on_a_cached_aggregate_lose_nothing() {
    let store = CountingStore::default();
    let accounts = Repository::<Account, _>::new(store.clone())
        .with_cache(16)
        .with_retry(annals::RetryPolicy::default().with_max_attempts(100));
    accounts.execute(open("a")).await.unwrap();
    let tasks: Vec<_> = (1..=16)
        .map(|n| {
            let accounts = accounts.clone();
            tokio::spawn(async move { accounts.execute(deposit("a", n)).await.map(|_| n) })
        })
        .collect();
    let mut total = 0;
    for task in tasks {
        total += task.await.unwrap().unwrap();
    }
    let loaded = accounts.load_from_events("a").await.unwrap();
    assert_eq!(loaded.state.balance, total);
    assert_eq!(loaded.version, 17);
}
