//! Snapshots and checkpoints are checked, not trusted. A snapshot is used only if the
//! stream holds, at the snapshot's version, the very event the snapshot was taken after,
//! and only if the state's shape (the derive's fingerprint of its fields) is unchanged; a
//! snapshot row that does not read is not used. A projection whose stored checkpoint is
//! past the log's head, or does not read, fails visibly until it is rebuilt, instead of
//! silently missing new events. Rows are changed by hand, as an operator or a restore
//! would, on SQLite and PostgreSQL.

mod services;

use std::collections::BTreeMap;
use std::time::Duration;

use annals::projection::{
    ProjectionFailure, ProjectionHandle, ProjectionRunner, RunnerOptions, SqlProjection, SqlWriter,
    Status, WaitError,
};
use annals::store::{EventStore, SnapshotStore, SqlTarget};
use annals::{Aggregate, Apply, Project, Projection, Recorded, Repository, SnapshotPolicy};
use annals_examples::bank::{
    Account, AccountEvent, BankError, Closed, Deposit, Deposited, Open, Opened, Withdraw, Withdrawn,
};
use serde::{Deserialize, Serialize};
use services::raw_sql::RawSql;

const WAIT: Duration = Duration::from_secs(10);

trait Store: EventStore + SnapshotStore + SqlTarget + RawSql + Clone {}
impl<S: EventStore + SnapshotStore + SqlTarget + RawSql + Clone> Store for S {}

/// Accounts that snapshot every 10 events.
fn accounts<S: Store>(store: &S) -> Repository<Account, S> {
    Repository::new(store.clone()).with_snapshots(SnapshotPolicy::EveryNEvents(10))
}

/// Opens account `id` and deposits 1 `deposits` times.
async fn opened_with_deposits<S: Store>(
    accounts: &Repository<Account, S>,
    id: &str,
    deposits: usize,
) {
    accounts
        .execute(Open {
            account: id.into(),
            owner: "Ada".into(),
        })
        .await
        .unwrap();
    for _ in 0..deposits {
        let deposit = Deposit {
            account: id.into(),
            amount: 1,
            reference: String::new(),
        };
        accounts.execute(deposit).await.unwrap();
    }
}

// ------------------------------------------------------------------------------------------
// Snapshots
// ------------------------------------------------------------------------------------------

/// A snapshot whose version was lowered by hand (10 → 5) is not used: the events after 5
/// are not applied on top of a state that already holds them, and commands are decided on
/// the right balance.
async fn a_snapshot_whose_version_was_lowered_is_not_used<S: Store>(store: S) {
    let accounts = accounts(&store);
    opened_with_deposits(&accounts, "a", 9).await;
    assert_eq!(accounts.load("a").await.unwrap().snapshot_version, Some(10));
    store
        .execute(&format!(
            "UPDATE {} SET stream_version = 5 WHERE stream_id = 'account-a'",
            S::SNAPSHOTS
        ))
        .await;

    let loaded = accounts.load("a").await.unwrap();
    assert_eq!((loaded.state.balance, loaded.version), (9, 10));
    assert_eq!(loaded.snapshot_version, None);
    let withdraw = Withdraw {
        account: "a".into(),
        amount: 10,
    };
    let refused = accounts.execute(withdraw).await.unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("insufficient funds: balance 9"),
        "{refused}"
    );
}

/// A snapshot row with a negative version does not read: it is not used, the state comes
/// from the events, and commands run.
async fn a_negative_snapshot_version_is_not_used<S: Store>(store: S) {
    let accounts = accounts(&store);
    opened_with_deposits(&accounts, "a", 9).await;
    store
        .execute(&format!(
            "UPDATE {} SET stream_version = -1 WHERE stream_id = 'account-a'",
            S::SNAPSHOTS
        ))
        .await;
    match store.load_snapshot("account-a").await {
        Err(annals::store::StoreError::CorruptSnapshot { column, .. }) => {
            assert_eq!(column, "stream_version");
        }
        other => panic!("expected a corrupt snapshot error, got {other:?}"),
    }

    let loaded = accounts.load("a").await.unwrap();
    assert_eq!((loaded.state.balance, loaded.version), (9, 10));
    let deposit = Deposit {
        account: "a".into(),
        amount: 1,
        reference: String::new(),
    };
    assert_eq!(accounts.execute(deposit).await.unwrap().stream_version, 11);
}

/// The next deployment's account: the balance renamed, with a default for states that
/// lack it. Nobody bumped `snapshot(version)`.
#[derive(Aggregate, Default, Clone, Debug, Serialize, Deserialize)]
#[aggregate(event = AccountEvent, error = BankError, kind = "account", snapshot(version = 1))]
struct AccountV2 {
    owner: String,
    #[serde(default)]
    balance_in_cents: i64,
    closed: bool,
}

impl Apply<Opened> for AccountV2 {
    fn apply(&mut self, event: &Opened) {
        self.owner = event.owner.clone();
    }
}

impl Apply<Deposited> for AccountV2 {
    fn apply(&mut self, event: &Deposited) {
        self.balance_in_cents += event.amount;
    }
}

impl Apply<Withdrawn> for AccountV2 {
    fn apply(&mut self, event: &Withdrawn) {
        self.balance_in_cents -= event.amount;
    }
}

impl Apply<Closed> for AccountV2 {
    fn apply(&mut self, _: &Closed) {
        self.closed = true;
    }
}

/// A snapshot of the state's old shape is not used by the new code, although it decodes
/// (the renamed field takes its default): the state comes from the events.
async fn a_snapshot_of_another_shape_is_not_used<S: Store>(store: S) {
    let accounts = accounts(&store);
    opened_with_deposits(&accounts, "a", 11).await;
    assert_eq!(accounts.load("a").await.unwrap().snapshot_version, Some(10));

    // The next deployment, on the same database.
    let next = Repository::<AccountV2, _>::new(store.reopen().await);
    let loaded = next.load("a").await.unwrap();
    assert_eq!(loaded.snapshot_version, None);
    assert_eq!((loaded.state.balance_in_cents, loaded.version), (11, 12));
}

// ------------------------------------------------------------------------------------------
// Checkpoints
// ------------------------------------------------------------------------------------------

/// Deposits per account, in a table.
#[derive(Projection, Default)]
#[projection(name = "deposit_totals", events(AccountEvent::{Deposited}))]
struct DepositTotals {
    sql: SqlWriter,
}

impl Project<Deposited> for DepositTotals {
    fn project(&mut self, deposit: Recorded<'_, Deposited>) {
        let table = Self::table("deposit_totals");
        self.sql.execute(
            format!(
                "INSERT INTO {table} (account, total) VALUES ($1, $2)
                 ON CONFLICT (account) DO UPDATE SET total = {table}.total + $2"
            ),
            [deposit.stream_id.into(), deposit.amount.into()],
        );
    }
}

impl SqlProjection for DepositTotals {
    fn setup() -> Vec<String> {
        vec![format!(
            "CREATE TABLE IF NOT EXISTS {} (account TEXT PRIMARY KEY, total BIGINT NOT NULL)",
            Self::table("deposit_totals")
        )]
    }

    fn reset() -> Vec<String> {
        vec![format!("DELETE FROM {}", Self::table("deposit_totals"))]
    }

    fn writer(&mut self) -> &mut SqlWriter {
        &mut self.sql
    }
}

fn quick() -> RunnerOptions {
    RunnerOptions::default()
        .with_poll_interval(Duration::from_millis(20))
        .with_backoff(Duration::from_millis(5), Duration::from_millis(50))
}

async fn failing<P: Projection>(handle: &ProjectionHandle<P>) -> ProjectionFailure {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Status::Failing(failure) = handle.status() {
            return failure;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} did not fail: {:?}",
            P::NAME,
            handle.status()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The projection, restarted with its checkpoint `set_to` by hand, fails visibly with a
/// message containing `says`, waits report it, new events do not clear it; a rebuild
/// does, and the table is then exact.
async fn restarted_with_checkpoint<S: Store>(store: S, set_to: &str, says: &str) {
    let accounts = accounts(&store);
    opened_with_deposits(&accounts, "a", 5).await;
    let runner = ProjectionRunner::new(store.clone()).with_options(quick());
    let totals = runner.spawn_sql(DepositTotals::default()).await.unwrap();
    let head = store.head_position().await.unwrap();
    totals.wait_for(head, WAIT).await.unwrap();
    totals.stop().await;
    store
        .execute(&format!(
            "UPDATE {} SET position = {set_to} WHERE projection = 'deposit_totals@v1'",
            S::CHECKPOINTS
        ))
        .await;

    let runner = ProjectionRunner::new(store.clone()).with_options(quick());
    let totals = runner.spawn_sql(DepositTotals::default()).await.unwrap();
    let failure = failing(&totals).await;
    assert!(failure.message.contains(says), "{failure}");
    assert!(failure.message.contains("rebuild it"), "{failure}");
    opened_with_deposits(&accounts, "b", 3).await;
    let head = store.head_position().await.unwrap();
    match totals.wait_for(head, Duration::from_millis(300)).await {
        Err(WaitError::Timeout {
            failing: Some(_), ..
        }) => {}
        other => panic!("expected a timeout naming the failure, got {other:?}"),
    }
    assert!(matches!(totals.status(), Status::Failing(_)));

    totals.rebuild(DepositTotals::default());
    totals.wait_for(head, WAIT).await.unwrap();
    let sum = "SELECT CAST(sum(total) AS BIGINT) FROM deposit_totals_v1";
    assert_eq!(store.query_i64(sum).await, Some(8));
    totals.stop().await;
}

/// A checkpoint past the log's head (a log restored from an older backup, say).
async fn a_checkpoint_past_the_head_fails_until_rebuilt<S: Store>(store: S) {
    restarted_with_checkpoint(store, "1000", "past the log's head").await;
}

/// A negative checkpoint: it does not read.
async fn a_negative_checkpoint_fails_until_rebuilt<S: Store>(store: S) {
    restarted_with_checkpoint(store, "-1", "does not read").await;
}

store_matrix!([sqlite, postgres] => a_snapshot_whose_version_was_lowered_is_not_used, a_negative_snapshot_version_is_not_used, a_snapshot_of_another_shape_is_not_used, a_checkpoint_past_the_head_fails_until_rebuilt, a_negative_checkpoint_fails_until_rebuilt);

/// Deposits counted in memory.
#[derive(Projection, Default, Clone)]
#[projection(name = "deposit_count", events(AccountEvent::{Deposited}))]
struct DepositCount {
    by_account: BTreeMap<String, u64>,
}

impl Project<Deposited> for DepositCount {
    fn project(&mut self, deposit: Recorded<'_, Deposited>) {
        *self
            .by_account
            .entry(deposit.stream_id.to_owned())
            .or_default() += 1;
    }
}

/// In memory, a read model restored with a checkpoint past the log's head fails visibly
/// until rebuilt.
#[tokio::test]
async fn a_restored_model_past_the_head_fails_until_rebuilt() {
    let store = annals::store::InMemoryStore::new();
    let accounts = Repository::<Account, _>::new(store.clone());
    accounts
        .execute(Open {
            account: "a".into(),
            owner: "Ada".into(),
        })
        .await
        .unwrap();
    let runner = ProjectionRunner::new(store.clone()).with_options(quick());
    let count = runner.spawn_from(DepositCount::default(), 50);
    let failure = failing(&count).await;
    assert!(failure.message.contains("past the log's head"), "{failure}");

    count.rebuild(DepositCount::default());
    let deposit = Deposit {
        account: "a".into(),
        amount: 1,
        reference: String::new(),
    };
    let position = accounts.execute(deposit).await.unwrap().position.unwrap();
    count.wait_for(position, WAIT).await.unwrap();
    assert_eq!(count.read(|c| c.by_account["account-a"]), 1);
    count.stop().await;
}
