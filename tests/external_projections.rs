//! Read models outside the event store's database: delivered at least once, and deduplicated
//! by the read model's inbox, so a handler never sees an event twice, even when the runner
//! fails between the read model's flush and its checkpoint. On every store.

mod services;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use annals::projection::{ExternalProjection, ReadModelError};
use annals::projection::{ProjectionRunner, RunnerOptions, Status};
use annals::store::CheckpointStore;
use annals::store::{
    AppendResult, EventFilter, EventStore, ExpectedVersion, NewEvent, RecordedEvent, StoreError,
};
use annals::{Project, Projection, Recorded, Repository, Uuid};
use annals_examples::bank::{Account, AccountEvent, Deposit, Deposited, Open};

const WAIT: Duration = Duration::from_secs(10);

/// The read model's own store: totals, and the inbox of applied event ids, changed together.
#[derive(Default)]
struct ExternalDb {
    totals: BTreeMap<String, i64>,
    inbox: HashSet<Uuid>,
}

/// A read model in `ExternalDb`; counts how often its handler saw each event.
#[derive(Projection, Clone, Default)]
#[projection(name = "search_index", events(AccountEvent::{Deposited}))]
struct SearchIndex {
    db: Arc<Mutex<ExternalDb>>,
    pending: Vec<(Uuid, String, i64)>,
    handler_calls: Arc<Mutex<HashMap<Uuid, u32>>>,
}

impl Project<Deposited> for SearchIndex {
    fn project(&mut self, deposit: Recorded<'_, Deposited>) {
        *self
            .handler_calls
            .lock()
            .unwrap()
            .entry(deposit.event_id)
            .or_default() += 1;
        self.pending.push((
            deposit.event_id,
            deposit.stream_id.to_owned(),
            deposit.amount,
        ));
    }
}

#[annals::async_trait]
impl ExternalProjection for SearchIndex {
    async fn processed(&self, event_ids: &[Uuid]) -> Result<HashSet<Uuid>, ReadModelError> {
        let db = self.db.lock().unwrap();
        Ok(event_ids
            .iter()
            .filter(|id| db.inbox.contains(id))
            .copied()
            .collect())
    }

    async fn flush(&mut self, event_ids: &[Uuid]) -> Result<(), ReadModelError> {
        let mut db = self.db.lock().unwrap();
        if event_ids.iter().any(|id| db.inbox.contains(id)) {
            return Err("an event of this flush is already in the inbox".into());
        }
        for (_, account, amount) in self.pending.drain(..) {
            *db.totals.entry(account).or_default() += amount;
        }
        db.inbox.extend(event_ids);
        Ok(())
    }
}

impl SearchIndex {
    fn calls(&self) -> Vec<u32> {
        self.handler_calls
            .lock()
            .unwrap()
            .values()
            .copied()
            .collect()
    }

    fn total(&self, account: &str) -> Option<i64> {
        self.db.lock().unwrap().totals.get(account).copied()
    }
}

/// A store whose next checkpoint move fails, as if the runner had crashed after the read
/// model's flush and before its checkpoint.
#[derive(Clone)]
struct CrashBeforeCheckpoint<S> {
    inner: S,
    fail_next_checkpoint: Arc<AtomicBool>,
}

#[annals::async_trait]
impl<S: EventStore + CheckpointStore> CheckpointStore for CrashBeforeCheckpoint<S> {
    async fn checkpoint(&self, projection: &str) -> Result<u64, StoreError> {
        self.inner.checkpoint(projection).await
    }

    async fn move_checkpoint(
        &self,
        projection: &str,
        from: u64,
        to: u64,
    ) -> Result<bool, StoreError> {
        if self.fail_next_checkpoint.swap(false, Ordering::SeqCst) {
            return Err(StoreError::Backend(
                "the runner crashed before its checkpoint".into(),
            ));
        }
        self.inner.move_checkpoint(projection, from, to).await
    }
}

#[annals::async_trait]
impl<S: EventStore + CheckpointStore> EventStore for CrashBeforeCheckpoint<S> {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        self.inner.append(stream, expected, events).await
    }
    async fn read_stream(
        &self,
        stream: &str,
        from: u64,
        max: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_stream(stream, from, max).await
    }
    async fn read_all(
        &self,
        after: u64,
        max: usize,
        filter: &EventFilter,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_all(after, max, filter).await
    }
    async fn stream_version(&self, stream: &str) -> Result<u64, StoreError> {
        self.inner.stream_version(stream).await
    }
    async fn head_position(&self) -> Result<u64, StoreError> {
        self.inner.head_position().await
    }
    fn catalog(&self) -> &annals::store::Catalog {
        self.inner.catalog()
    }
    async fn wait_for_visible_appends(&self, timeout: Duration) -> Result<bool, StoreError> {
        self.inner.wait_for_visible_appends(timeout).await
    }
    fn subscribe(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        self.inner.subscribe()
    }
}

fn quick() -> RunnerOptions {
    RunnerOptions::default()
        .with_poll_interval(Duration::from_millis(20))
        .with_backoff(Duration::from_millis(5), Duration::from_secs(5))
}

async fn deposits<S: EventStore + annals::store::SnapshotStore + Clone>(
    store: &S,
    amounts: std::ops::RangeInclusive<i64>,
) -> u64 {
    let accounts = Repository::<Account, _>::new(store.clone());
    accounts
        .execute(Open {
            account: "a".into(),
            owner: "Ada".into(),
        })
        .await
        .ok();
    let mut last = 0;
    for amount in amounts {
        let deposit = Deposit {
            account: "a".into(),
            amount,
            reference: String::new(),
        };
        last = accounts.execute(deposit).await.unwrap().position.unwrap();
    }
    last
}

/// Each deposit reaches the read model once, and its handler once.
async fn each_event_reaches_the_read_model_once<S>(store: S)
where
    S: EventStore + annals::store::SnapshotStore + CheckpointStore + Clone,
{
    let index = SearchIndex::default();
    let handle = ProjectionRunner::new(store.clone())
        .with_options(quick())
        .spawn_external(index.clone())
        .await
        .unwrap();
    let last = deposits(&store, 1..=20).await;
    handle.wait_for(last, WAIT).await.unwrap();
    assert_eq!(index.total("account-a"), Some(210));
    assert!(
        index.calls().iter().all(|&calls| calls == 1),
        "{:?}",
        index.calls()
    );
    handle.stop().await;
}

/// The runner fails after the read model flushed a batch and before its checkpoint: the
/// batch is read again, the inbox says the read model has it, and no handler sees it again.
async fn a_replay_after_a_crash_is_not_delivered_again<S>(store: S)
where
    S: EventStore + annals::store::SnapshotStore + CheckpointStore + Clone,
{
    let last = deposits(&store, 1..=10).await;
    let crashing = CrashBeforeCheckpoint {
        inner: store.clone(),
        fail_next_checkpoint: Arc::new(AtomicBool::new(true)),
    };
    let index = SearchIndex::default();
    let handle = ProjectionRunner::new(crashing)
        .with_options(quick())
        .spawn_external(index.clone())
        .await
        .unwrap();
    handle.wait_for(last, WAIT).await.unwrap();
    assert_eq!(handle.status(), Status::Running);
    assert_eq!(index.total("account-a"), Some(55));
    assert_eq!(index.calls().len(), 10);
    assert!(
        index.calls().iter().all(|&calls| calls == 1),
        "a handler saw an event twice: {:?}",
        index.calls()
    );
    handle.stop().await;
}

/// A restarted runner resumes from the stored checkpoint: nothing is delivered twice.
async fn a_restart_resumes_from_the_stored_checkpoint<S>(store: S)
where
    S: EventStore + annals::store::SnapshotStore + CheckpointStore + Clone,
{
    let runner = ProjectionRunner::new(store.clone()).with_options(quick());
    let index = SearchIndex::default();
    let first = deposits(&store, 1..=5).await;
    let handle = runner.spawn_external(index.clone()).await.unwrap();
    handle.wait_for(first, WAIT).await.unwrap();
    handle.stop().await;
    let second = deposits(&store, 6..=8).await;
    let handle = runner.spawn_external(index.clone()).await.unwrap();
    handle.wait_for(second, WAIT).await.unwrap();
    assert_eq!(index.total("account-a"), Some(36));
    assert!(
        index.calls().iter().all(|&calls| calls == 1),
        "{:?}",
        index.calls()
    );
    handle.stop().await;
}

store_matrix!([memory, sqlite, postgres] => each_event_reaches_the_read_model_once, a_replay_after_a_crash_is_not_delivered_again, a_restart_resumes_from_the_stored_checkpoint);
