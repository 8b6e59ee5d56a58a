//! Poison events leave no trace. An event whose handler panics part-way, whose statements
//! the database refuses, or whose stored row does not read stops its projection at that
//! event, with a failure that names its position; retries leave nothing of it behind, and
//! an operator's skip steps over it cleanly. A read model whose own code panics shows as
//! failing instead of dying in silence. In memory, in SQL tables and in an external store.

mod services;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use annals::projection::{
    ExternalProjection, ProjectionFailure, ProjectionHandle, ProjectionRunner, ReadModelError,
    RunnerOptions, SqlProjection, SqlWriter, Status, WaitError,
};
use annals::store::{EventStore, PostgresStore, SnapshotStore, SqlTarget, SqliteStore, StoreError};
use annals::{LoadError, Project, Projection, Recorded, Repository, Uuid};
use annals_examples::bank::{Account, AccountEvent, Deposit, Deposited, Open};
use services::raw_sql::RawSql;

const WAIT: Duration = Duration::from_secs(10);

/// The amount whose handlers fail.
const UNLUCKY: i64 = 13;

/// Deposits of 1 before and after the unlucky one.
const BEFORE: usize = 59;
const AFTER: usize = 60;

fn quick() -> RunnerOptions {
    RunnerOptions::default()
        .with_poll_interval(Duration::from_millis(20))
        .with_backoff(Duration::from_millis(2), Duration::from_millis(20))
        .with_batch_size(25)
}

/// Deposits into account `a`, in order; returns their positions.
async fn deposits<S: EventStore + SnapshotStore + Clone>(store: &S, amounts: &[i64]) -> Vec<u64> {
    let accounts = Repository::<Account, _>::new(store.clone());
    accounts
        .execute(Open {
            account: "a".into(),
            owner: "Ada".into(),
        })
        .await
        .unwrap();
    let mut positions = Vec::new();
    for &amount in amounts {
        let deposit = Deposit {
            account: "a".into(),
            amount,
            reference: String::new(),
        };
        positions.push(accounts.execute(deposit).await.unwrap().position.unwrap());
    }
    positions
}

/// `BEFORE` deposits of 1, the unlucky one, `AFTER` deposits of 1; returns the unlucky
/// one's position and the last.
async fn deposits_around_the_unlucky_one<S: EventStore + SnapshotStore + Clone>(
    store: &S,
) -> (u64, u64) {
    let mut amounts = vec![1; BEFORE];
    amounts.push(UNLUCKY);
    amounts.extend(std::iter::repeat_n(1, AFTER));
    let positions = deposits(store, &amounts).await;
    (positions[BEFORE], *positions.last().unwrap())
}

/// Waits until the projection has failed at least `attempts` times; returns the failure.
async fn failing_after<P: Projection>(
    handle: &ProjectionHandle<P>,
    attempts: u32,
) -> ProjectionFailure {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Status::Failing(failure) = handle.status()
            && failure.attempts >= attempts
        {
            return failure;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} did not fail {attempts} times: {:?}",
            P::NAME,
            handle.status()
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

// ------------------------------------------------------------------------------------------
// Handlers that panic part-way
// ------------------------------------------------------------------------------------------

/// Counts deposits, then adds their amounts: the unlucky amount panics in between.
#[derive(Projection, Default, Clone, Debug)]
#[projection(name = "tally", events(AccountEvent::{Deposited}))]
struct Tally {
    deposits: u64,
    total: i64,
}

impl Project<Deposited> for Tally {
    fn project(&mut self, deposit: Recorded<'_, Deposited>) {
        self.deposits += 1;
        assert_ne!(deposit.amount, UNLUCKY, "unlucky amount");
        self.total += deposit.amount;
    }
}

/// In memory: retries of a handler that panics after changing the read model do not
/// accumulate its change, readers see the model as it was before the event, and the skip
/// leaves the model exactly as if the event had never been.
async fn a_panic_part_way_leaves_nothing_in_memory<S: EventStore + SnapshotStore + Clone>(
    store: S,
) {
    let (unlucky, last) = deposits_around_the_unlucky_one(&store).await;
    let runner = ProjectionRunner::new(store.clone()).with_options(quick());
    let tally = runner.spawn(Tally::default());

    let failure = failing_after(&tally, 5).await;
    assert_eq!(failure.position, Some(unlucky), "{failure}");
    assert!(failure.message.contains("unlucky amount"), "{failure}");
    assert_eq!(
        tally.read(|t| (t.deposits, t.total)),
        (BEFORE as u64, BEFORE as i64),
        "readers see the model before the failing event, not part of it"
    );

    tally.skip(unlucky);
    tally.wait_for(last, WAIT).await.unwrap();
    let applied = (BEFORE + AFTER) as u64;
    assert_eq!(
        tally.read(|t| (t.deposits, t.total)),
        (applied, applied as i64)
    );
    tally.stop().await;
}

/// Rows of deposits in a table: the handler writes its row, then panics on the unlucky
/// amount.
#[derive(Projection, Default)]
#[projection(name = "deposit_rows", events(AccountEvent::{Deposited}))]
struct DepositRows {
    sql: SqlWriter,
}

impl Project<Deposited> for DepositRows {
    fn project(&mut self, deposit: Recorded<'_, Deposited>) {
        self.sql.execute(
            format!(
                "INSERT INTO {} (position, amount) VALUES ($1, $2)",
                Self::table("deposit_rows")
            ),
            [(deposit.position as i64).into(), deposit.amount.into()],
        );
        assert_ne!(deposit.amount, UNLUCKY, "unlucky amount");
    }
}

impl SqlProjection for DepositRows {
    fn setup() -> Vec<String> {
        vec![format!(
            "CREATE TABLE IF NOT EXISTS {} (position BIGINT PRIMARY KEY, amount BIGINT NOT NULL)",
            Self::table("deposit_rows")
        )]
    }

    fn reset() -> Vec<String> {
        vec![format!("DELETE FROM {}", Self::table("deposit_rows"))]
    }

    fn writer(&mut self) -> &mut SqlWriter {
        &mut self.sql
    }
}

/// In SQL: the statements a handler wrote before it panicked are never committed, by the
/// retries or by the skip; the events before it are.
async fn a_panic_part_way_leaves_no_statement<
    S: EventStore + SnapshotStore + SqlTarget + RawSql + Clone,
>(
    store: S,
) {
    let (unlucky, last) = deposits_around_the_unlucky_one(&store).await;
    let runner = ProjectionRunner::new(store.clone()).with_options(quick());
    let rows = runner.spawn_sql(DepositRows::default()).await.unwrap();

    let failure = failing_after(&rows, 5).await;
    assert_eq!(failure.position, Some(unlucky), "{failure}");
    let count = "SELECT count(*) FROM deposit_rows_v1";
    assert_eq!(store.query_i64(count).await, Some(BEFORE as i64));

    rows.skip(unlucky);
    rows.wait_for(last, WAIT).await.unwrap();
    assert_eq!(store.query_i64(count).await, Some((BEFORE + AFTER) as i64));
    let unlucky_rows = format!("SELECT count(*) FROM deposit_rows_v1 WHERE amount = {UNLUCKY}");
    assert_eq!(
        store.query_i64(&unlucky_rows).await,
        Some(0),
        "nothing of the skipped event"
    );
    rows.stop().await;
}

/// Rows of deposits in a table whose CHECK constraint refuses the unlucky amount.
#[derive(Projection, Default)]
#[projection(name = "checked_rows", events(AccountEvent::{Deposited}))]
struct CheckedRows {
    sql: SqlWriter,
}

impl Project<Deposited> for CheckedRows {
    fn project(&mut self, deposit: Recorded<'_, Deposited>) {
        self.sql.execute(
            format!(
                "INSERT INTO {} (position, amount) VALUES ($1, $2)",
                Self::table("checked_rows")
            ),
            [(deposit.position as i64).into(), deposit.amount.into()],
        );
    }
}

impl SqlProjection for CheckedRows {
    fn setup() -> Vec<String> {
        vec![format!(
            "CREATE TABLE IF NOT EXISTS {} (position BIGINT PRIMARY KEY, amount BIGINT NOT NULL CHECK (amount <> {UNLUCKY}))",
            Self::table("checked_rows")
        )]
    }

    fn reset() -> Vec<String> {
        vec![format!("DELETE FROM {}", Self::table("checked_rows"))]
    }

    fn writer(&mut self) -> &mut SqlWriter {
        &mut self.sql
    }
}

/// The database refusing one event's statements: the failure names that event (the events
/// before it commit), and a skip of it lets the projection go on.
async fn a_refused_statement_names_its_event<
    S: EventStore + SnapshotStore + SqlTarget + RawSql + Clone,
>(
    store: S,
) {
    let (unlucky, last) = deposits_around_the_unlucky_one(&store).await;
    let runner = ProjectionRunner::new(store.clone()).with_options(quick());
    let rows = runner.spawn_sql(CheckedRows::default()).await.unwrap();

    let failure = failing_after(&rows, 2).await;
    assert_eq!(failure.position, Some(unlucky), "{failure}");
    assert_eq!(
        failure.event,
        Some(("account-a".to_owned(), "Deposited".to_owned()))
    );
    assert!(failure.message.contains("refused"), "{failure}");
    let count = "SELECT count(*) FROM checked_rows_v1";
    assert_eq!(store.query_i64(count).await, Some(BEFORE as i64));

    rows.skip(unlucky);
    rows.wait_for(last, WAIT).await.unwrap();
    assert_eq!(store.query_i64(count).await, Some((BEFORE + AFTER) as i64));
    rows.stop().await;
}

// ------------------------------------------------------------------------------------------
// A read model in a store of its own
// ------------------------------------------------------------------------------------------

/// The external read model's store: totals and the inbox of applied event ids.
#[derive(Default)]
struct Ledger {
    total: i64,
    deposits: u64,
    inbox: HashSet<Uuid>,
}

/// A read model in a `Ledger`: the handler queues the amount, then panics on the unlucky
/// one; `flush` panics while `flush_panics` is set.
#[derive(Projection, Clone, Default)]
#[projection(name = "ledger", events(AccountEvent::{Deposited}))]
struct LedgerModel {
    ledger: Arc<Mutex<Ledger>>,
    pending: Vec<i64>,
    flush_panics: Arc<AtomicBool>,
}

impl Project<Deposited> for LedgerModel {
    fn project(&mut self, deposit: Recorded<'_, Deposited>) {
        self.pending.push(deposit.amount);
        assert_ne!(deposit.amount, UNLUCKY, "unlucky amount");
    }
}

#[annals::async_trait]
impl ExternalProjection for LedgerModel {
    async fn processed(&self, event_ids: &[Uuid]) -> Result<HashSet<Uuid>, ReadModelError> {
        let ledger = self.ledger.lock().unwrap();
        Ok(event_ids
            .iter()
            .filter(|id| ledger.inbox.contains(id))
            .copied()
            .collect())
    }

    async fn flush(&mut self, event_ids: &[Uuid]) -> Result<(), ReadModelError> {
        assert!(
            !self.flush_panics.load(Ordering::SeqCst),
            "the ledger's driver panicked"
        );
        let mut ledger = self.ledger.lock().unwrap();
        for amount in self.pending.drain(..) {
            ledger.total += amount;
            ledger.deposits += 1;
        }
        ledger.inbox.extend(event_ids);
        Ok(())
    }
}

impl LedgerModel {
    fn totals(&self) -> (u64, i64) {
        let ledger = self.ledger.lock().unwrap();
        (ledger.deposits, ledger.total)
    }
}

/// External: what the handler queued before it panicked is not flushed, by the retries or
/// by the skip.
async fn a_panic_part_way_reaches_no_external_store<S>(store: S)
where
    S: EventStore + SnapshotStore + annals::store::CheckpointStore + Clone,
{
    let (unlucky, last) = deposits_around_the_unlucky_one(&store).await;
    let runner = ProjectionRunner::new(store.clone()).with_options(quick());
    let model = LedgerModel::default();
    let ledger = runner.spawn_external(model.clone()).await.unwrap();

    let failure = failing_after(&ledger, 5).await;
    assert_eq!(failure.position, Some(unlucky), "{failure}");
    assert_eq!(model.totals(), (BEFORE as u64, BEFORE as i64));

    ledger.skip(unlucky);
    ledger.wait_for(last, WAIT).await.unwrap();
    let applied = (BEFORE + AFTER) as u64;
    assert_eq!(model.totals(), (applied, applied as i64));
    ledger.stop().await;
}

/// A read model whose flush panics: the projection is failing, with the cause, listed by
/// the runner, and waits report it; once the cause is gone it goes on, each event applied
/// once.
async fn a_panicking_flush_is_a_visible_failure<S>(store: S)
where
    S: EventStore + SnapshotStore + annals::store::CheckpointStore + Clone,
{
    let positions = deposits(&store, &[1, 2, 3]).await;
    let runner = ProjectionRunner::new(store.clone()).with_options(quick());
    let model = LedgerModel::default();
    model.flush_panics.store(true, Ordering::SeqCst);
    let ledger = runner.spawn_external(model.clone()).await.unwrap();

    let failure = failing_after(&ledger, 2).await;
    assert!(
        failure.message.contains("the ledger's driver panicked"),
        "{failure}"
    );
    let failing: Vec<_> = runner.failing().into_iter().map(|f| f.projection).collect();
    assert_eq!(failing, ["ledger"]);
    match ledger
        .wait_for(positions[2], Duration::from_millis(200))
        .await
    {
        Err(WaitError::Timeout {
            failing: Some(failure),
            ..
        }) => assert!(failure.message.contains("panicked"), "{failure}"),
        other => panic!("expected a timeout naming the failure, got {other:?}"),
    }

    model.flush_panics.store(false, Ordering::SeqCst);
    ledger.retry_now();
    ledger.wait_for(positions[2], WAIT).await.unwrap();
    assert_eq!(model.totals(), (3, 6));
    assert_eq!(ledger.status(), Status::Running);
    ledger.stop().await;
}

mod on_every_store {
    use super::*;
    store_matrix!([memory, sqlite, postgres] => a_panic_part_way_leaves_nothing_in_memory, a_panic_part_way_reaches_no_external_store, a_panicking_flush_is_a_visible_failure);
}

mod in_sql_tables {
    use super::*;
    store_matrix!([sqlite, postgres] => a_panic_part_way_leaves_no_statement, a_refused_statement_names_its_event);
}

// ------------------------------------------------------------------------------------------
// Rows that do not read
// ------------------------------------------------------------------------------------------

/// Ways to corrupt a stored event row by hand, per database.
trait Corruptible: EventStore + SnapshotStore + SqlTarget + RawSql + Clone {
    /// The column each corruption breaks, and the SQL that breaks it in the row at
    /// `{position}`.
    fn corruptions() -> Vec<(&'static str, &'static str)>;

    /// Breaks the row at `position` with corruption `which`.
    async fn corrupt(&self, which: usize, position: u64) -> &'static str {
        let (column, sql) = Self::corruptions()[which];
        let sql = sql
            .replace("{events}", Self::EVENTS)
            .replace("{position}", &position.to_string());
        self.execute(&sql).await;
        column
    }
}

impl Corruptible for SqliteStore {
    fn corruptions() -> Vec<(&'static str, &'static str)> {
        vec![
            (
                "metadata",
                "UPDATE {events} SET metadata = 'not json' WHERE position = {position}",
            ),
            (
                "event_id",
                "UPDATE {events} SET event_id = x'010203' WHERE position = {position}",
            ),
            (
                "recorded_at",
                "UPDATE {events} SET recorded_at = 'yesterday' WHERE position = {position}",
            ),
        ]
    }
}

impl Corruptible for PostgresStore {
    fn corruptions() -> Vec<(&'static str, &'static str)> {
        vec![
            (
                "metadata",
                r#"UPDATE {events} SET metadata = '"not metadata"'::jsonb WHERE position = {position}"#,
            ),
            (
                "stream_version",
                "UPDATE {events} SET stream_version = -stream_version WHERE position = {position}",
            ),
        ]
    }
}

/// Ten deposits of 1, of which every other one from the third on is corrupted, one way
/// each; returns the corrupted rows (position and column) and the last position.
async fn deposits_with_corrupt_rows<S: Corruptible>(store: &S) -> (Vec<(u64, &'static str)>, u64) {
    let positions = deposits(store, &[1; 10]).await;
    let mut corrupted = Vec::new();
    for which in 0..S::corruptions().len() {
        let position = positions[2 + 2 * which];
        corrupted.push((position, store.corrupt(which, position).await));
    }
    (corrupted, positions[9])
}

/// Each corrupt row in turn: the projection fails naming its position and column, until
/// an operator skips it.
async fn skip_each<P: Projection>(handle: &ProjectionHandle<P>, corrupted: &[(u64, &str)]) {
    for &(position, column) in corrupted {
        let deadline = tokio::time::Instant::now() + WAIT;
        let failure = loop {
            if let Status::Failing(failure) = handle.status()
                && failure.position == Some(position)
            {
                break failure;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} did not fail at {position}: {:?}",
                P::NAME,
                handle.status()
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        assert!(
            failure.message.contains(&format!("column `{column}`")),
            "{failure}"
        );
        handle.skip(position);
    }
}

/// In memory: each row that does not read stops the projection at its position; skipped,
/// the others are applied.
async fn a_corrupt_row_is_named_and_skipped_in_memory<S: Corruptible>(store: S) {
    let (corrupted, last) = deposits_with_corrupt_rows(&store).await;
    let runner = ProjectionRunner::new(store.clone()).with_options(quick());
    let tally = runner.spawn(Tally::default());
    skip_each(&tally, &corrupted).await;
    tally.wait_for(last, WAIT).await.unwrap();
    let applied = 10 - corrupted.len() as u64;
    assert_eq!(
        tally.read(|t| (t.deposits, t.total)),
        (applied, applied as i64)
    );
    tally.stop().await;
}

/// In SQL: the same, and the table holds the other rows.
async fn a_corrupt_row_is_named_and_skipped_in_sql<S: Corruptible>(store: S) {
    let (corrupted, last) = deposits_with_corrupt_rows(&store).await;
    let runner = ProjectionRunner::new(store.clone()).with_options(quick());
    let rows = runner.spawn_sql(DepositRows::default()).await.unwrap();
    skip_each(&rows, &corrupted).await;
    rows.wait_for(last, WAIT).await.unwrap();
    let count = store
        .query_i64("SELECT count(*) FROM deposit_rows_v1")
        .await;
    assert_eq!(count, Some(10 - corrupted.len() as i64));
    rows.stop().await;
}

/// External: the same, and the external store holds the others.
async fn a_corrupt_row_is_named_and_skipped_externally<
    S: Corruptible + annals::store::CheckpointStore,
>(
    store: S,
) {
    let (corrupted, last) = deposits_with_corrupt_rows(&store).await;
    let runner = ProjectionRunner::new(store.clone()).with_options(quick());
    let model = LedgerModel::default();
    let ledger = runner.spawn_external(model.clone()).await.unwrap();
    skip_each(&ledger, &corrupted).await;
    ledger.wait_for(last, WAIT).await.unwrap();
    let applied = 10 - corrupted.len() as u64;
    assert_eq!(model.totals(), (applied, applied as i64));
    ledger.stop().await;
}

/// Loading an aggregate whose row does not read: a typed error naming the stream, the
/// version and the column. (On PostgreSQL the columns a load reads are typed and
/// constrained: every value they can hold reads.)
#[tokio::test]
async fn sqlite_a_corrupt_row_fails_a_load_with_its_stream_and_version() {
    let store = services::sqlite().await.unwrap();
    let positions = deposits(&store, &[1, 2]).await;
    store
        .execute(&format!(
            "UPDATE annals_events SET schema_version = -1 WHERE position = {}",
            positions[0]
        ))
        .await;
    let accounts = Repository::<Account, _>::new(store.clone());
    match accounts.load("a").await {
        Err(LoadError::Store(StoreError::CorruptEvent { stream, column, .. })) => {
            assert_eq!(stream, Some(("account-a".to_owned(), 2)));
            assert_eq!(column, "schema_version");
        }
        other => panic!("expected a corrupt event error, got {other:?}"),
    }
}

mod corrupt_rows {
    use super::*;
    store_matrix!([sqlite, postgres] => a_corrupt_row_is_named_and_skipped_in_memory, a_corrupt_row_is_named_and_skipped_in_sql, a_corrupt_row_is_named_and_skipped_externally);
}

/// A payload another program stored as TEXT (SQLite keeps JSON as a BLOB): the aggregate
/// loads, as projections read it.
#[tokio::test]
async fn sqlite_payloads_stored_as_text_load() {
    let store = services::sqlite().await.unwrap();
    deposits(&store, &[5, 7]).await;
    store
        .execute("UPDATE annals_events SET payload = CAST(payload AS TEXT)")
        .await;
    let text = "SELECT count(*) FROM annals_events WHERE typeof(payload) = 'text'";
    assert_eq!(store.query_i64(text).await, Some(3));
    let accounts = Repository::<Account, _>::new(store.clone());
    let loaded = accounts.load("a").await.unwrap();
    assert_eq!((loaded.state.balance, loaded.version), (12, 3));
}
