//! The projection runner on every store (memory, SQLite, PostgreSQL): catch-up, live
//! tailing, filtering, read-your-writes, concurrent writers, rebuilds, failures and
//! resuming from a checkpoint.

mod services;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use annals::projection::{
    ExternalProjection, ProjectionRunner, ReadModelError, RunnerOptions, Status, WaitError,
};
use annals::store::{
    CheckpointStore, EventStore, ExpectedVersion, Metadata, NewEvent, SnapshotStore,
};
use annals::{Project, Projection, Recorded, Repository};
use annals_examples::bank::{
    Account, AccountEvent, Closed, Deposit, Deposited, Open, Opened, Withdraw, Withdrawn,
};

const WAIT: Duration = Duration::from_secs(10);

/// Every account's balance, from every account event.
#[derive(Projection, Default, Clone, Debug, PartialEq)]
#[projection(name = "balances", events(AccountEvent))]
struct Balances {
    by_account: BTreeMap<String, i64>,
    closed: Vec<String>,
}

impl Project<Opened> for Balances {
    fn project(&mut self, opened: Recorded<'_, Opened>) {
        self.by_account.insert(opened.stream_id.to_owned(), 0);
    }
}

impl Project<Deposited> for Balances {
    fn project(&mut self, deposit: Recorded<'_, Deposited>) {
        *self
            .by_account
            .entry(deposit.stream_id.to_owned())
            .or_default() += deposit.amount;
    }
}

impl Project<Withdrawn> for Balances {
    fn project(&mut self, withdrawal: Recorded<'_, Withdrawn>) {
        *self
            .by_account
            .entry(withdrawal.stream_id.to_owned())
            .or_default() -= withdrawal.amount;
    }
}

impl Project<Closed> for Balances {
    fn project(&mut self, closed: Recorded<'_, Closed>) {
        self.closed.push(closed.stream_id.to_owned());
    }
}

/// Deposits only: the runner must not even read other events for it.
#[derive(Projection, Default, Clone, Debug, PartialEq)]
#[projection(name = "deposit_count", events(AccountEvent::{Deposited}))]
struct DepositCount {
    deposits: u64,
    /// Per stream, the last version seen: each stream must arrive in version order (the
    /// global order interleaves streams, and on PostgreSQL follows commit order).
    versions: BTreeMap<String, u64>,
}

impl Project<Deposited> for DepositCount {
    fn project(&mut self, deposit: Recorded<'_, Deposited>) {
        let last = self
            .versions
            .entry(deposit.stream_id.to_owned())
            .or_default();
        assert!(
            deposit.stream_version > *last,
            "{} out of version order",
            deposit.stream_id
        );
        *last = deposit.stream_version;
        self.deposits += 1;
    }
}

fn quick() -> RunnerOptions {
    RunnerOptions::default().with_poll_interval(Duration::from_millis(20))
}

async fn open(accounts: &Repository<Account, impl EventStore + SnapshotStore>, id: &str) {
    accounts
        .execute(Open {
            account: id.into(),
            owner: "Ada".into(),
        })
        .await
        .unwrap();
}

async fn deposit(
    accounts: &Repository<Account, impl EventStore + SnapshotStore>,
    id: &str,
    amount: i64,
) -> u64 {
    let deposit = Deposit {
        account: id.into(),
        amount,
        reference: String::new(),
    };
    accounts.execute(deposit).await.unwrap().position.unwrap()
}

// ------------------------------------------------------------------------------------------
// The behaviours, generic over the store
// ------------------------------------------------------------------------------------------

/// Events recorded before the projection starts are caught up from the beginning.
async fn catches_up_on_existing_events<S: EventStore + SnapshotStore + Clone>(store: S) {
    let accounts = Repository::<Account, _>::new(store.clone());
    open(&accounts, "a").await;
    deposit(&accounts, "a", 10).await;
    let last = deposit(&accounts, "a", 5).await;
    let balances = ProjectionRunner::new(store)
        .with_options(quick())
        .spawn(Balances::default());
    balances.wait_caught_up(WAIT).await.unwrap();
    assert_eq!(balances.checkpoint(), last);
    assert_eq!(balances.read(|b| b.by_account["account-a"]), 15);
    balances.stop().await;
}

/// Events recorded while the projection runs reach it (live tailing), and a query can wait
/// for a command's position (read-your-writes).
async fn tails_live_events<S: EventStore + SnapshotStore + Clone>(store: S) {
    let balances = ProjectionRunner::new(store.clone())
        .with_options(quick())
        .spawn(Balances::default());
    let accounts = Repository::<Account, _>::new(store);
    open(&accounts, "a").await;
    for amount in 1..=20 {
        let position = deposit(&accounts, "a", amount).await;
        balances.wait_for(position, WAIT).await.unwrap();
        assert_eq!(
            balances.read(|b| b.by_account["account-a"]),
            (1..=amount).sum::<i64>()
        );
    }
    balances.stop().await;
}

/// A projection consuming some variants reads only those, and several projections run
/// side by side over the same log.
async fn filtered_projections_run_side_by_side<S: EventStore + SnapshotStore + Clone>(store: S) {
    let runner = ProjectionRunner::new(store.clone()).with_options(quick());
    let balances = runner.spawn(Balances::default());
    let deposits = runner.spawn(DepositCount::default());
    let accounts = Repository::<Account, _>::new(store);
    open(&accounts, "a").await;
    deposit(&accounts, "a", 10).await;
    accounts
        .execute(Withdraw {
            account: "a".into(),
            amount: 3,
        })
        .await
        .unwrap();
    let last = deposit(&accounts, "a", 1).await;
    deposits.wait_for(last, WAIT).await.unwrap();
    balances.wait_for(last, WAIT).await.unwrap();
    assert_eq!(deposits.read(|d| d.deposits), 2);
    assert_eq!(
        deposits.handled(),
        2,
        "the opening and the withdrawal were not even read"
    );
    assert_eq!(balances.handled(), 4);
    assert_eq!(balances.read(|b| b.by_account["account-a"]), 8);
    deposits.stop().await;
    balances.stop().await;
}

/// 8 writers deposit concurrently while the projection tails the log: at the end its
/// totals are exact and each deposit was applied once.
async fn concurrent_writers_give_exact_totals<S: EventStore + SnapshotStore + Clone>(store: S) {
    const WRITERS: usize = 8;
    const DEPOSITS: i64 = 25;
    let deposits = ProjectionRunner::new(store.clone())
        .with_options(quick())
        .spawn(DepositCount::default());
    let balances = ProjectionRunner::new(store.clone())
        .with_options(quick())
        .spawn(Balances::default());
    let accounts = Repository::<Account, _>::new(store);
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let accounts = accounts.clone();
            tokio::spawn(async move {
                let id = format!("w{w}");
                open(&accounts, &id).await;
                let mut last = 0;
                for amount in 1..=DEPOSITS {
                    last = deposit(&accounts, &id, amount).await;
                }
                last
            })
        })
        .collect();
    let mut last = 0;
    for writer in writers {
        last = last.max(writer.await.unwrap());
    }
    deposits.wait_for(last, WAIT).await.unwrap();
    balances.wait_for(last, WAIT).await.unwrap();
    assert_eq!(
        deposits.read(|d| d.deposits),
        WRITERS as u64 * DEPOSITS as u64
    );
    let expected: i64 = (1..=DEPOSITS).sum();
    balances.read(|b| {
        assert_eq!(b.by_account.len(), WRITERS);
        assert!(
            b.by_account.values().all(|&total| total == expected),
            "{:?}",
            b.by_account
        );
    });
    deposits.stop().await;
    balances.stop().await;
}

/// The closed accounts, in order: a projection of a rare event.
#[derive(Projection, Default, Clone, Debug, PartialEq)]
#[projection(name = "closed_accounts", events(AccountEvent::{Closed}))]
struct ClosedAccounts {
    closed: Vec<String>,
}

impl Project<Closed> for ClosedAccounts {
    fn project(&mut self, closed: Recorded<'_, Closed>) {
        self.closed.push(closed.stream_id.to_owned());
    }
}

/// Thirty projections of one runner (three filters, started before, during and after the
/// writes) share the log's tail while 8 writers deposit, withdraw and close concurrently:
/// each sees each of its events once, each stream in order.
async fn many_projections_of_one_runner_see_each_event_once<
    S: EventStore + SnapshotStore + Clone,
>(
    store: S,
) {
    const WRITERS: usize = 8;
    const DEPOSITS: i64 = 25;
    let runner = ProjectionRunner::new(store.clone()).with_options(quick());
    let accounts = Repository::<Account, _>::new(store);
    let mut counts = Vec::new();
    let mut balances = Vec::new();
    let mut closed = Vec::new();
    let spawn_ten = |counts: &mut Vec<_>, balances: &mut Vec<_>, closed: &mut Vec<_>| {
        for _ in 0..10 / 2 {
            counts.push(runner.spawn(DepositCount::default()));
            balances.push(runner.spawn(Balances::default()));
        }
        closed.push(runner.spawn(ClosedAccounts::default()));
    };
    spawn_ten(&mut counts, &mut balances, &mut closed);
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let accounts = accounts.clone();
            tokio::spawn(async move {
                let id = format!("w{w}");
                open(&accounts, &id).await;
                for amount in 1..=DEPOSITS {
                    deposit(&accounts, &id, amount).await;
                }
                let withdraw = Withdraw {
                    account: id.clone(),
                    amount: (1..=DEPOSITS).sum(),
                };
                accounts.execute(withdraw).await.unwrap();
                let close = annals_examples::bank::Close { account: id };
                accounts.execute(close).await.unwrap().position.unwrap()
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(20)).await;
    spawn_ten(&mut counts, &mut balances, &mut closed);
    let mut last = 0;
    for writer in writers {
        last = last.max(writer.await.unwrap());
    }
    spawn_ten(&mut counts, &mut balances, &mut closed);

    for count in &counts {
        count.wait_for(last, WAIT).await.unwrap();
        assert_eq!(count.read(|d| d.deposits), WRITERS as u64 * DEPOSITS as u64);
    }
    for balance in &balances {
        balance.wait_for(last, WAIT).await.unwrap();
        balance.read(|b| {
            assert_eq!(b.by_account.len(), WRITERS);
            assert!(b.by_account.values().all(|&total| total == 0), "{b:?}");
            assert_eq!(b.closed.len(), WRITERS);
        });
    }
    for list in &closed {
        list.wait_for(last, WAIT).await.unwrap();
        let mut names = list.read(|c| c.closed.clone());
        names.sort_unstable();
        let expected: Vec<String> = (0..WRITERS).map(|w| format!("account-w{w}")).collect();
        assert_eq!(names, expected);
    }
    for handle in counts {
        handle.stop().await;
    }
}

/// A projection that stalls while more events are appended than the shared tail keeps
/// falls out of it and reads the store itself; it still sees each event once.
async fn a_projection_left_behind_by_the_shared_tail_reads_the_store<
    S: EventStore + SnapshotStore + CheckpointStore + Clone,
>(
    store: S,
) {
    const EVENTS: usize = 20_000;
    const PER_APPEND: usize = 500;
    let runner = ProjectionRunner::new(store.clone()).with_options(quick());
    let accounts = Repository::<Account, _>::new(store.clone());
    open(&accounts, "a").await;
    let first = deposit(&accounts, "a", 1).await;
    let stalling = Stalling::default();
    let slow = runner.spawn_external(stalling.clone()).await.unwrap();
    let fast = runner.spawn(DepositCount::default());
    fast.wait_for(first, WAIT).await.unwrap();

    let deposited = annals::Event::encode(&AccountEvent::Deposited(Deposited {
        amount: 1,
        reference: String::new(),
    }))
    .unwrap();
    let mut version = 2;
    for _ in 0..EVENTS / PER_APPEND {
        let events = (0..PER_APPEND)
            .map(|_| {
                NewEvent::new(
                    deposited.event_type,
                    deposited.schema_version,
                    deposited.payload.clone(),
                    Metadata::default(),
                )
            })
            .collect();
        store
            .append("account-a", ExpectedVersion::Exact(version), events)
            .await
            .unwrap();
        version += PER_APPEND as u64;
    }
    let last = store.head_position().await.unwrap();
    fast.wait_for(last, WAIT).await.unwrap();
    // The stalled one has been holding its first batch all along.
    assert_eq!(stalling.deposits(), 0);
    stalling.gate.notify_one();
    slow.wait_for(last, WAIT).await.unwrap();
    let expected = EVENTS as u64 + 1;
    assert_eq!(fast.read(|d| d.deposits), expected);
    assert_eq!(stalling.deposits(), expected);
    fast.stop().await;
    slow.stop().await;
}

/// Counts deposits in a store of its own; its first flush waits until the test opens the
/// gate.
#[derive(Projection, Clone, Default)]
#[projection(name = "stalling", events(AccountEvent::{Deposited}))]
struct Stalling {
    pending: u64,
    flushed: Arc<std::sync::Mutex<(u64, std::collections::HashSet<annals::Uuid>)>>,
    gate: Arc<tokio::sync::Notify>,
}

impl Stalling {
    fn deposits(&self) -> u64 {
        self.flushed.lock().unwrap().0
    }
}

impl Project<Deposited> for Stalling {
    fn project(&mut self, _: Recorded<'_, Deposited>) {
        self.pending += 1;
    }
}

#[annals::async_trait]
impl ExternalProjection for Stalling {
    async fn processed(
        &self,
        event_ids: &[annals::Uuid],
    ) -> Result<std::collections::HashSet<annals::Uuid>, ReadModelError> {
        let flushed = self.flushed.lock().unwrap();
        Ok(event_ids
            .iter()
            .filter(|id| flushed.1.contains(id))
            .copied()
            .collect())
    }

    async fn flush(&mut self, event_ids: &[annals::Uuid]) -> Result<(), ReadModelError> {
        if self.deposits() == 0 {
            self.gate.notified().await;
        }
        let mut flushed = self.flushed.lock().unwrap();
        flushed.0 += std::mem::take(&mut self.pending);
        flushed.1.extend(event_ids);
        Ok(())
    }
}

/// A rebuild from zero gives the same read model as the live run.
async fn a_rebuild_gives_the_live_read_model<S: EventStore + SnapshotStore + Clone>(store: S) {
    let balances = ProjectionRunner::new(store.clone())
        .with_options(quick())
        .spawn(Balances::default());
    let accounts = Repository::<Account, _>::new(store);
    for id in ["a", "b", "c"] {
        open(&accounts, id).await;
    }
    let mut last = 0;
    for round in 1..=10 {
        for id in ["a", "b", "c"] {
            last = deposit(&accounts, id, round).await;
        }
    }
    balances.wait_for(last, WAIT).await.unwrap();
    let live = balances.read(Clone::clone);
    balances.rebuild(Balances::default());
    balances.wait_for(last, WAIT).await.unwrap();
    assert_eq!(balances.read(Clone::clone), live);
    balances.stop().await;
}

/// A store whose global-log reads wait for a permit: the test decides how many batches
/// the runner may read before it is stopped.
#[derive(Clone)]
struct Gated<S> {
    inner: S,
    permits: std::sync::Arc<tokio::sync::Semaphore>,
}

#[annals::async_trait]
impl<S: EventStore> EventStore for Gated<S> {
    async fn append(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<annals::store::AppendResult, annals::store::StoreError> {
        self.inner.append(stream_id, expected, events).await
    }
    async fn read_stream(
        &self,
        s: &str,
        from: u64,
        max: usize,
    ) -> Result<Vec<annals::store::RecordedEvent>, annals::store::StoreError> {
        self.inner.read_stream(s, from, max).await
    }
    async fn read_all(
        &self,
        after: u64,
        max: usize,
        filter: &annals::store::EventFilter,
    ) -> Result<Vec<annals::store::RecordedEvent>, annals::store::StoreError> {
        self.permits
            .acquire()
            .await
            .expect("the semaphore stays open")
            .forget();
        self.inner.read_all(after, max, filter).await
    }
    async fn stream_version(&self, s: &str) -> Result<u64, annals::store::StoreError> {
        self.inner.stream_version(s).await
    }
    async fn head_position(&self) -> Result<u64, annals::store::StoreError> {
        self.inner.head_position().await
    }
    fn catalog(&self) -> &annals::store::Catalog {
        self.inner.catalog()
    }
    async fn wait_for_visible_appends(
        &self,
        timeout: Duration,
    ) -> Result<bool, annals::store::StoreError> {
        self.inner.wait_for_visible_appends(timeout).await
    }
}

/// A projection stopped part-way through catch-up, again and again (after each batch of
/// 3), and restarted each time from its read model and checkpoint, loses
/// nothing and applies nothing twice: the read model and the checkpoint change together.
async fn resuming_from_the_checkpoint_loses_nothing<S: EventStore + SnapshotStore + Clone>(
    store: S,
) {
    let accounts = Repository::<Account, _>::new(store.clone());
    open(&accounts, "a").await;
    let mut last = 0;
    for amount in 1..=50 {
        last = deposit(&accounts, "a", amount).await;
    }
    assert!(store.wait_for_visible_appends(WAIT).await.unwrap());
    let gated = Gated {
        inner: store,
        permits: std::sync::Arc::new(tokio::sync::Semaphore::new(0)),
    };
    let runner = ProjectionRunner::new(gated.clone()).with_options(quick().with_batch_size(3));
    let (mut state, mut checkpoint, mut restarts) = (Balances::default(), 0, 0);
    while checkpoint != last {
        let handle = runner.spawn_from(state, checkpoint);
        let reader = handle.reader();
        gated.permits.add_permits(1);
        while reader.checkpoint() == checkpoint {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // The runner is now waiting for its next permit: stopping cancels that read.
        handle.stop().await;
        (state, checkpoint) = (reader.read(Clone::clone), reader.checkpoint());
        restarts += 1;
        assert!(restarts <= 51, "no progress");
    }
    assert_eq!(
        restarts, 17,
        "one restart per batch of 3 events (51 events)"
    );
    assert_eq!(state.by_account["account-a"], (1..=50).sum::<i64>());
}

/// A consumed event that does not decode stops the projection at that event (its
/// checkpoint stays before it), the failure names it, and skipping it lets it go on.
async fn a_bad_event_stops_the_projection_until_skipped<S: EventStore + SnapshotStore + Clone>(
    store: S,
) {
    let accounts = Repository::<Account, _>::new(store.clone());
    open(&accounts, "a").await;
    let before = deposit(&accounts, "a", 10).await;
    let bad = NewEvent::new(
        "Deposited",
        2,
        br#"{"amount":"lots"}"#.to_vec(),
        Metadata::default(),
    );
    // In a stream of its own: the account's own commands must still load.
    let bad_position = store
        .append("account-z", ExpectedVersion::NoStream, vec![bad])
        .await
        .unwrap()
        .last_position();
    let runner = ProjectionRunner::new(store.clone())
        .with_options(quick().with_backoff(Duration::from_millis(5), Duration::from_secs(5)));
    let balances = runner.spawn(Balances::default());
    let deposits = runner.spawn(DepositCount::default());

    let failure = loop {
        if let Status::Failing(failure) = balances.status() {
            break failure;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert_eq!(failure.projection, "balances");
    assert_eq!(failure.position, Some(bad_position));
    assert_eq!(
        failure.event,
        Some(("account-z".to_owned(), "Deposited".to_owned()))
    );
    assert!(
        failure.message.contains("does not decode"),
        "{}",
        failure.message
    );
    assert_eq!(
        balances.checkpoint(),
        before,
        "the checkpoint stays before the failing event"
    );
    assert_eq!(balances.read(|b| b.by_account["account-a"]), 10);
    // The operator's list names the failing projections (the deposit counter reads the
    // same bad deposit, so it fails too, under its own name).
    let mut failing: Vec<_> = runner.failing().into_iter().map(|f| f.projection).collect();
    while failing.len() < 2 {
        tokio::time::sleep(Duration::from_millis(5)).await;
        failing = runner.failing().into_iter().map(|f| f.projection).collect();
    }
    failing.sort_unstable();
    assert_eq!(failing, ["balances", "deposit_count"]);
    assert_eq!(runner.statuses().len(), 2);

    balances.skip(bad_position);
    deposits.skip(bad_position);
    let after = deposit(&accounts, "a", 5).await;
    balances.wait_for(after, WAIT).await.unwrap();
    assert_eq!(balances.read(|b| b.by_account["account-a"]), 15);
    assert_eq!(balances.status(), Status::Running);
    balances.stop().await;
    deposits.stop().await;
}

/// Lag: behind before the projection has read, nothing behind once it has caught up.
async fn lag_reports_checkpoint_head_and_time<S: EventStore + SnapshotStore + Clone>(store: S) {
    let accounts = Repository::<Account, _>::new(store.clone());
    open(&accounts, "a").await;
    let last = deposit(&accounts, "a", 1).await;
    let balances = ProjectionRunner::new(store)
        .with_options(quick())
        .spawn(Balances::default());
    balances.wait_for(last, WAIT).await.unwrap();
    let lag = balances.lag().await.unwrap();
    assert_eq!(lag.checkpoint, last);
    assert_eq!(lag.head, last);
    assert_eq!(lag.positions_behind, 0);
    assert_eq!(lag.events_behind, 0);
    assert_eq!(lag.time_behind, Duration::ZERO);
    balances.stop().await;
}

/// A filtered projection's lag in events counts only the events it consumes; its lag in
/// positions counts every event of the log.
async fn lag_in_events_counts_only_consumed_events<S: EventStore + SnapshotStore + Clone>(
    store: S,
) {
    let accounts = Repository::<Account, _>::new(store.clone());
    open(&accounts, "a").await;
    let caught_up = deposit(&accounts, "a", 1).await;
    let deposits = ProjectionRunner::new(store.clone())
        .with_options(quick())
        .spawn(DepositCount::default());
    deposits.wait_for(caught_up, WAIT).await.unwrap();
    let reader = deposits.reader();
    deposits.stop().await;

    open(&accounts, "b").await;
    for amount in [2, 3, 4] {
        deposit(&accounts, "b", amount).await;
    }
    let last = accounts
        .execute(Withdraw {
            account: "b".into(),
            amount: 1,
        })
        .await
        .unwrap()
        .position
        .unwrap();
    assert!(store.wait_for_visible_appends(WAIT).await.unwrap());
    let lag = reader.lag().await.unwrap();
    assert_eq!((lag.checkpoint, lag.head), (caught_up, last));
    assert_eq!(
        lag.events_behind, 3,
        "the three deposits, not the opening or the withdrawal"
    );
    assert_eq!(lag.positions_behind, last - caught_up);
    assert!(lag.time_behind > Duration::ZERO);
}

/// A stopped projection says so, and waiting on it fails instead of hanging.
async fn a_stopped_projection_reports_stopped<S: EventStore + SnapshotStore + Clone>(store: S) {
    let balances = ProjectionRunner::new(store)
        .with_options(quick())
        .spawn(Balances::default());
    let reader = balances.reader();
    balances.stop().await;
    assert_eq!(reader.status(), Status::Stopped);
    assert!(
        reader
            .wait_for(1, Duration::from_millis(200))
            .await
            .is_err()
    );
}

mod shared_tail {
    use super::*;
    store_matrix!(threads 4; [memory, sqlite, postgres] => many_projections_of_one_runner_see_each_event_once, a_projection_left_behind_by_the_shared_tail_reads_the_store);
}
store_matrix!([memory, sqlite, postgres] => catches_up_on_existing_events, tails_live_events, filtered_projections_run_side_by_side, concurrent_writers_give_exact_totals, a_rebuild_gives_the_live_read_model, resuming_from_the_checkpoint_loses_nothing, a_bad_event_stops_the_projection_until_skipped, lag_reports_checkpoint_head_and_time, lag_in_events_counts_only_consumed_events, a_stopped_projection_reports_stopped);

/// PostgreSQL: an append by another process (here: another store handle, with its own
/// pool) wakes a caught-up projection through `LISTEN`/`NOTIFY`, long before its poll.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_notifications_wake_projections_of_other_processes() {
    let Some(reading) = services::postgres_store(2).await else {
        return;
    };
    let writing = annals::store::PostgresStore::connect_with(
        annals::store::PostgresOptions::new(services::database_url()).with_schema(reading.schema()),
    )
    .await
    .unwrap();
    let slow_poll = RunnerOptions::default().with_poll_interval(Duration::from_secs(3600));
    let balances = ProjectionRunner::new(reading)
        .with_options(slow_poll)
        .spawn(Balances::default());
    // Let it catch up (on nothing) and settle into waiting, with its LISTEN in place.
    while balances.status() != Status::Running {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    let accounts = Repository::<Account, _>::new(writing);
    open(&accounts, "a").await;
    deposit(&accounts, "a", 7).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while balances.handled() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no wake-up from the other process"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(balances.read(|b| b.by_account["account-a"]), 7);
    balances.stop().await;
}

/// PostgreSQL: a notified append that an older open transaction keeps invisible is read
/// once that transaction ends, without a second notification and long before the poll.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_appends_hidden_by_an_older_transaction_are_read_when_it_ends() {
    let _alone = OPEN_TRANSACTIONS.lock().await;
    let Some(reading) = services::postgres_store(2).await else {
        return;
    };
    let Some(mut raw) = services::raw_client().await else {
        return;
    };
    let slow_poll = RunnerOptions::default().with_poll_interval(Duration::from_secs(3600));
    let accounts = Repository::<Account, _>::new(reading.clone());
    let balances = ProjectionRunner::new(reading)
        .with_options(slow_poll)
        .spawn(Balances::default());
    while balances.status() != Status::Running {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // A transaction with an id, left open: every later commit stays invisible to readers
    // of the log until it ends.
    let older = raw.transaction().await.unwrap();
    older
        .query_one("SELECT pg_current_xact_id()", &[])
        .await
        .unwrap();
    open(&accounts, "a").await;
    deposit(&accounts, "a", 7).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(balances.handled(), 0, "the appends are not visible yet");

    older.commit().await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    while balances.handled() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the appends were not read when the older transaction ended"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(balances.read(|b| b.by_account["account-a"]), 7);
    balances.stop().await;
}

/// Held by the tests that leave a transaction open: one at a time, so that the transaction
/// holding the server's readers back is the test's own.
static OPEN_TRANSACTIONS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// While a transaction left open on the server hides new appends from readers, the
/// projection says so: its status and lag name the transaction's backend, its state and
/// how long it has been open, and a read-your-writes wait that times out says the same.
/// Once the transaction ends, the projection reads the appends and runs on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_projection_waiting_for_hidden_appends_says_what_for() {
    let _alone = OPEN_TRANSACTIONS.lock().await;
    let Some(reading) = services::postgres_store(2).await else {
        return;
    };
    let Some(mut raw) = services::raw_client().await else {
        return;
    };
    let options = RunnerOptions::default().with_poll_interval(Duration::from_millis(100));
    let accounts = Repository::<Account, _>::new(reading.clone());
    let balances = ProjectionRunner::new(reading)
        .with_options(options)
        .spawn(Balances::default());
    open(&accounts, "a").await;
    balances.wait_caught_up(WAIT).await.unwrap();

    let older = raw.transaction().await.unwrap();
    let pid: i32 = older
        .query_one("SELECT pg_backend_pid(), pg_current_xact_id()::text", &[])
        .await
        .unwrap()
        .get(0);
    let position = deposit(&accounts, "a", 7).await;

    let deadline = tokio::time::Instant::now() + WAIT;
    let waiting = loop {
        if let Status::Waiting(waiting) = balances.status() {
            break waiting;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            balances.status()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(waiting.hidden.events, 1);
    assert!(
        waiting.hidden.held_by.contains(&format!("backend {pid} "))
            && waiting.hidden.held_by.contains("idle in transaction"),
        "{waiting}"
    );
    assert!(waiting.hidden.open_for.is_some(), "{waiting}");
    let lag = balances.lag().await.unwrap();
    assert_eq!(lag.waiting.map(|w| w.hidden.events), Some(1));
    match balances
        .wait_for(position, Duration::from_millis(200))
        .await
    {
        Err(
            error @ WaitError::Timeout {
                waiting: Some(_), ..
            },
        ) => {
            assert!(
                error.to_string().contains(&format!("backend {pid} ")),
                "{error}"
            );
        }
        other => panic!("expected a timeout saying what it waits for, got {other:?}"),
    }

    older.commit().await.unwrap();
    balances.wait_for(position, WAIT).await.unwrap();
    assert_eq!(balances.read(|b| b.by_account["account-a"]), 7);
    let deadline = tokio::time::Instant::now() + WAIT;
    while balances.status() != Status::Running {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            balances.status()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(balances.lag().await.unwrap().waiting, None);
    balances.stop().await;
}
