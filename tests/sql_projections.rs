//! SQL read models in the event store's own database (SQLite and PostgreSQL): each batch's
//! statements and the checkpoint commit together, so every event is applied exactly once,
//! across failures, restarts, rebuilds and competing runners.

mod services;

use std::time::Duration;

use annals::projection::{ProjectionRunner, RunnerOptions, Status};
use annals::projection::{SqlProjection, SqlWriter};
use annals::store::PostgresStore;
use annals::store::SqlTarget;
use annals::store::SqliteStore;
use annals::store::{EventStore, SnapshotStore};
use annals::{Project, Projection, Recorded, Repository};
use annals_examples::bank::{Account, AccountEvent, Deposit, Deposited, Open, Withdraw, Withdrawn};
use services::raw_sql::RawSql;

const WAIT: Duration = Duration::from_secs(10);

/// Per-account balances in a table, from deposits and withdrawals.
#[derive(Projection, Default)]
#[projection(name = "balance_table", events(AccountEvent::{Deposited, Withdrawn}))]
struct BalanceTable {
    sql: SqlWriter,
}

impl BalanceTable {
    fn add(&mut self, account: &str, amount: i64) {
        let table = Self::table("balances");
        self.sql.execute(
            format!(
                "INSERT INTO {table} (account, total) VALUES ($1, $2)
                 ON CONFLICT (account) DO UPDATE SET total = {table}.total + $2"
            ),
            [account.into(), amount.into()],
        );
    }
}

impl Project<Deposited> for BalanceTable {
    fn project(&mut self, deposit: Recorded<'_, Deposited>) {
        self.add(deposit.stream_id, deposit.amount);
    }
}

impl Project<Withdrawn> for BalanceTable {
    fn project(&mut self, withdrawal: Recorded<'_, Withdrawn>) {
        self.add(withdrawal.stream_id, -withdrawal.amount);
    }
}

impl SqlProjection for BalanceTable {
    fn setup() -> Vec<String> {
        vec![format!(
            "CREATE TABLE IF NOT EXISTS {} (account TEXT PRIMARY KEY, total BIGINT NOT NULL)",
            Self::table("balances")
        )]
    }

    fn reset() -> Vec<String> {
        vec![format!("DELETE FROM {}", Self::table("balances"))]
    }

    fn writer(&mut self) -> &mut SqlWriter {
        &mut self.sql
    }

    fn views() -> Vec<&'static str> {
        vec!["balances"]
    }
}

/// The same read model at version 2: built beside version 1, in its own table.
#[derive(Projection, Default)]
#[projection(name = "balance_table", version = 2, events(AccountEvent::{Deposited}))]
struct DepositTableV2 {
    sql: SqlWriter,
}

impl Project<Deposited> for DepositTableV2 {
    fn project(&mut self, deposit: Recorded<'_, Deposited>) {
        let table = Self::table("balances");
        self.sql.execute(
            format!(
                "INSERT INTO {table} (account, total) VALUES ($1, $2)
                 ON CONFLICT (account) DO UPDATE SET total = {table}.total + $2"
            ),
            [deposit.stream_id.into(), deposit.amount.into()],
        );
    }
}

impl SqlProjection for DepositTableV2 {
    fn setup() -> Vec<String> {
        vec![format!(
            "CREATE TABLE IF NOT EXISTS {} (account TEXT PRIMARY KEY, total BIGINT NOT NULL)",
            Self::table("balances")
        )]
    }

    fn reset() -> Vec<String> {
        vec![format!("DELETE FROM {}", Self::table("balances"))]
    }

    fn writer(&mut self) -> &mut SqlWriter {
        &mut self.sql
    }

    fn views() -> Vec<&'static str> {
        vec!["balances"]
    }
}

/// Raw access to the read model's tables, per database.
trait Tables: EventStore + SnapshotStore + SqlTarget + RawSql + Clone {
    /// SQL that makes `operation` (`UPDATE`, `DELETE`) on `table` fail while the table
    /// `poison` has a row.
    fn poison_trigger(&self, table: &str, operation: &str) -> String;

    async fn total(&self, table: &str, account: &str) -> Option<i64> {
        self.query_i64(&format!(
            "SELECT total FROM {table} WHERE account = '{account}'"
        ))
        .await
    }
}

impl Tables for SqliteStore {
    fn poison_trigger(&self, table: &str, operation: &str) -> String {
        format!(
            "CREATE TABLE poison (x INTEGER); INSERT INTO poison VALUES (1);
             CREATE TRIGGER poisoned BEFORE {operation} ON {table} WHEN EXISTS (SELECT 1 FROM poison)
             BEGIN SELECT RAISE(ABORT, 'poisoned'); END;"
        )
    }
}

impl Tables for PostgresStore {
    fn poison_trigger(&self, table: &str, operation: &str) -> String {
        format!(
            "CREATE TABLE poison (x INTEGER); INSERT INTO poison VALUES (1);
             CREATE FUNCTION poisoned() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN IF EXISTS (SELECT 1 FROM poison) THEN RAISE EXCEPTION 'poisoned'; END IF; RETURN COALESCE(NEW, OLD); END $$;
             CREATE TRIGGER poisoned BEFORE {operation} ON {table} FOR EACH ROW EXECUTE FUNCTION poisoned();"
        )
    }
}

fn quick() -> RunnerOptions {
    RunnerOptions::default()
        .with_poll_interval(Duration::from_millis(20))
        .with_backoff(Duration::from_millis(5), Duration::from_secs(5))
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

/// Deposits and withdrawals land in the table, once each, and the checkpoint is stored.
async fn the_table_holds_every_event_once<S: Tables>(store: S) {
    let accounts = Repository::<Account, _>::new(store.clone());
    let table = ProjectionRunner::new(store.clone())
        .with_options(quick())
        .spawn_sql(BalanceTable::default())
        .await
        .unwrap();
    open(&accounts, "a").await;
    deposit(&accounts, "a", 100).await;
    let last = accounts
        .execute(Withdraw {
            account: "a".into(),
            amount: 30,
        })
        .await
        .unwrap()
        .position
        .unwrap();
    table.wait_for(last, WAIT).await.unwrap();
    assert_eq!(store.total("balances_v1", "account-a").await, Some(70));
    assert_eq!(
        store.checkpoint("balance_table@v1").await.unwrap(),
        table.checkpoint()
    );
    table.stop().await;
}

/// A restarted read model resumes from its stored checkpoint: what it applied before is
/// not applied again.
async fn a_restart_resumes_from_the_stored_checkpoint<S: Tables>(store: S) {
    let accounts = Repository::<Account, _>::new(store.clone());
    let runner = ProjectionRunner::new(store.clone()).with_options(quick());
    open(&accounts, "a").await;
    let first = deposit(&accounts, "a", 10).await;
    let table = runner.spawn_sql(BalanceTable::default()).await.unwrap();
    table.wait_for(first, WAIT).await.unwrap();
    table.stop().await;

    let second = deposit(&accounts, "a", 5).await;
    assert_eq!(store.checkpoint("balance_table@v1").await.unwrap(), first);
    let table = runner.spawn_sql(BalanceTable::default()).await.unwrap();
    table.wait_for(second, WAIT).await.unwrap();
    assert_eq!(store.total("balances_v1", "account-a").await, Some(15));
    table.stop().await;
}

/// A batch whose commit fails (the database refuses one of its statements) leaves neither
/// its changes nor its checkpoint; once the cause is gone, the retry applies it once.
async fn a_failed_commit_leaves_neither_changes_nor_checkpoint<S: Tables>(store: S) {
    let accounts = Repository::<Account, _>::new(store.clone());
    let runner = ProjectionRunner::new(store.clone()).with_options(quick());
    open(&accounts, "a").await;
    let first = deposit(&accounts, "a", 10).await;
    let table = runner.spawn_sql(BalanceTable::default()).await.unwrap();
    table.wait_for(first, WAIT).await.unwrap();
    store
        .execute(&store.poison_trigger("balances_v1", "UPDATE"))
        .await;

    let second = deposit(&accounts, "a", 5).await;
    let failure = loop {
        if let Status::Failing(failure) = table.status() {
            break failure;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert!(failure.message.contains("poisoned"), "{}", failure.message);
    assert_eq!(
        store.total("balances_v1", "account-a").await,
        Some(10),
        "nothing of the failed batch"
    );
    assert_eq!(
        store.checkpoint("balance_table@v1").await.unwrap(),
        first,
        "checkpoint unmoved"
    );

    store.execute("DELETE FROM poison").await;
    table.retry_now();
    table.wait_for(second, WAIT).await.unwrap();
    assert_eq!(
        store.total("balances_v1", "account-a").await,
        Some(15),
        "applied exactly once"
    );
    table.stop().await;
}

/// Two runners of the same read model (two processes, say): one commits each batch, the
/// other follows its checkpoint; the table is exact.
async fn competing_runners_apply_each_event_once<S: Tables>(store: S) {
    let accounts = Repository::<Account, _>::new(store.clone());
    let runner = ProjectionRunner::new(store.clone()).with_options(quick().with_batch_size(5));
    let first = runner.spawn_sql(BalanceTable::default()).await.unwrap();
    let second = runner.spawn_sql(BalanceTable::default()).await.unwrap();
    open(&accounts, "a").await;
    let mut last = 0;
    for amount in 1..=40 {
        last = deposit(&accounts, "a", amount).await;
    }
    first.wait_for(last, WAIT).await.unwrap();
    second.wait_for(last, WAIT).await.unwrap();
    assert_eq!(
        store.total("balances_v1", "account-a").await,
        Some((1..=40).sum())
    );
    first.stop().await;
    second.stop().await;
}

/// A rebuild empties the table, replays the log, and ends with the same totals.
async fn a_rebuild_replays_into_an_empty_table<S: Tables>(store: S) {
    let accounts = Repository::<Account, _>::new(store.clone());
    let table = ProjectionRunner::new(store.clone())
        .with_options(quick())
        .spawn_sql(BalanceTable::default())
        .await
        .unwrap();
    open(&accounts, "a").await;
    let mut last = 0;
    for amount in 1..=10 {
        last = deposit(&accounts, "a", amount).await;
    }
    table.wait_for(last, WAIT).await.unwrap();
    table.rebuild(BalanceTable::default());
    table.wait_for(last, WAIT).await.unwrap();
    assert_eq!(store.total("balances_v1", "account-a").await, Some(55));
    table.stop().await;
}

/// A rebuild whose reset fails (the database refuses to empty the table) is not lost: the
/// projection reports it failing and, once the cause is gone, rebuilds.
async fn a_rebuild_whose_reset_fails_is_kept_and_retried<S: Tables>(store: S) {
    let accounts = Repository::<Account, _>::new(store.clone());
    let table = ProjectionRunner::new(store.clone())
        .with_options(quick())
        .spawn_sql(BalanceTable::default())
        .await
        .unwrap();
    open(&accounts, "a").await;
    let mut last = 0;
    for amount in 1..=3 {
        last = deposit(&accounts, "a", amount).await;
    }
    table.wait_for(last, WAIT).await.unwrap();
    // A damaged table, which only a rebuild repairs; emptying it fails for now.
    store.execute("UPDATE balances_v1 SET total = -1").await;
    store
        .execute(&store.poison_trigger("balances_v1", "DELETE"))
        .await;

    table.rebuild(BalanceTable::default());
    let failure = loop {
        if let Status::Failing(failure) = table.status() {
            break failure;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert!(
        failure.message.contains("rebuild failed") && failure.message.contains("poisoned"),
        "{}",
        failure.message
    );
    assert_eq!(store.total("balances_v1", "account-a").await, Some(-1));

    store.execute("DELETE FROM poison").await;
    table.retry_now();
    let deadline = tokio::time::Instant::now() + WAIT;
    while store.total("balances_v1", "account-a").await != Some(6) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the rebuild was not retried"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    table.stop().await;
}

/// Version 2 of a read model builds in its own table, under its own checkpoint, beside
/// version 1.
async fn a_new_version_builds_beside_the_old<S: Tables>(store: S) {
    let accounts = Repository::<Account, _>::new(store.clone());
    let runner = ProjectionRunner::new(store.clone()).with_options(quick());
    let v1 = runner.spawn_sql(BalanceTable::default()).await.unwrap();
    open(&accounts, "a").await;
    deposit(&accounts, "a", 10).await;
    let last = accounts
        .execute(Withdraw {
            account: "a".into(),
            amount: 4,
        })
        .await
        .unwrap()
        .position
        .unwrap();
    v1.wait_for(last, WAIT).await.unwrap();
    let v2 = runner.spawn_sql(DepositTableV2::default()).await.unwrap();
    v2.wait_for(last, WAIT).await.unwrap();
    assert_eq!(store.total("balances_v1", "account-a").await, Some(6));
    assert_eq!(store.total("balances_v2", "account-a").await, Some(10));
    v1.stop().await;
    v2.stop().await;
}

/// Readers of the `balances` view see version 1 until version 2 has caught up, then
/// version 2; a runner of version 1 started again does not take the view back.
async fn a_new_version_switches_readers_once_caught_up<S: Tables>(store: S) {
    let accounts = Repository::<Account, _>::new(store.clone());
    let runner = ProjectionRunner::new(store.clone()).with_options(quick());
    let v1 = runner.spawn_sql(BalanceTable::default()).await.unwrap();
    open(&accounts, "a").await;
    deposit(&accounts, "a", 10).await;
    let last = accounts
        .execute(Withdraw {
            account: "a".into(),
            amount: 4,
        })
        .await
        .unwrap()
        .position
        .unwrap();
    v1.wait_for(last, WAIT).await.unwrap();
    assert_eq!(
        store.total("balances", "account-a").await,
        Some(6),
        "version 1"
    );

    let v2 = runner.spawn_sql(DepositTableV2::default()).await.unwrap();
    v2.wait_for(last, WAIT).await.unwrap();
    assert_eq!(
        store.total("balances", "account-a").await,
        Some(10),
        "version 2"
    );

    v1.stop().await;
    let v1_again = runner.spawn_sql(BalanceTable::default()).await.unwrap();
    v1_again.wait_for(last, WAIT).await.unwrap();
    assert_eq!(
        store.total("balances", "account-a").await,
        Some(10),
        "still version 2"
    );
    v1_again.stop().await;
    v2.stop().await;
}

store_matrix!([sqlite, postgres] => the_table_holds_every_event_once, a_restart_resumes_from_the_stored_checkpoint, a_failed_commit_leaves_neither_changes_nor_checkpoint, competing_runners_apply_each_event_once, a_rebuild_replays_into_an_empty_table, a_rebuild_whose_reset_fails_is_kept_and_retried, a_new_version_builds_beside_the_old, a_new_version_switches_readers_once_caught_up);

/// Two instances starting the same SQL read model on a fresh PostgreSQL schema at the same
/// instant both start: its tables are created once, the other waits for them (PostgreSQL's
/// `CREATE TABLE IF NOT EXISTS` is not safe against a concurrent one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_two_instances_start_one_new_read_model() {
    const TRIALS: usize = 10;
    let mut failures = Vec::new();
    for trial in 0..TRIALS {
        let Some(first) = services::postgres_store(2).await else {
            return;
        };
        let second = first.reopen().await;
        let (one, other) = (
            ProjectionRunner::new(first).with_options(quick()),
            ProjectionRunner::new(second).with_options(quick()),
        );
        let (a, b) = tokio::join!(
            one.spawn_sql(BalanceTable::default()),
            other.spawn_sql(BalanceTable::default())
        );
        for started in [a, b] {
            match started {
                Ok(handle) => handle.stop().await,
                Err(error) => failures.push(format!("trial {trial}: {error}")),
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
