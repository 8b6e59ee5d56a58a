//! Projection catch-up into a SQL table against a hand-written raw-driver program, in one
//! run (issue: projections into tables).
//!
//! `cargo bench --bench projection_tables` (`-- --quick` for one round; `--rounds N`;
//! `--store sqlite|postgres` and `--only annals|floor|read` to profile one side of one
//! store). The figure: catch-up of the 100,000 bank events of `benches/projections.rs` into
//! a table of per-account balances (`account TEXT PRIMARY KEY, balance BIGINT, closed
//! BOOLEAN`) in the store's own database, in events/s, beside a floor measured in the same
//! run, as the ratio annals / floor (target ≥ 0.7):
//!
//! - annals: a `#[derive(Projection)]` read model over the whole `AccountEvent` enum
//!   implementing `SqlProjection`: its handlers write one statement per event into a
//!   `SqlWriter` (Opened → `INSERT` the account's row; Deposited, Withdrawn → `UPDATE ...
//!   SET balance = balance + $2 WHERE account = $1`; Closed → `UPDATE ... SET closed =
//!   true`), and the runner commits each batch's statements with the checkpoint in one
//!   transaction. Started with `ProjectionRunner::spawn_sql` (batch size 1,000) on a fresh
//!   table and no checkpoint (`SqlTarget::reset_projection` before the timing), timed from
//!   `spawn_sql` until `wait_for(last position)` returns.
//! - floor: what a hand-written program does with the raw driver: a keyset-paged read of
//!   the log, 1,000 rows per page (`SELECT position, stream_id, event_type, payload` as in
//!   the read-only floor of `projections.rs`), each payload decoded with serde_json into
//!   the payload structs through a `match` on the type name, then the same statements,
//!   prepared once, for the page's events in one transaction per page, into its own copy
//!   of the table (dropped and created again before each run). PostgreSQL: tokio-postgres,
//!   the page's statements pipelined (all sent before the first answer is awaited), then
//!   `COMMIT`. SQLite: rusqlite, `BEGIN IMMEDIATE`, the page read and written, `COMMIT`.
//! - read (diagnostic): the read-only floor of `projections.rs`, the same read and decode
//!   into a `HashMap` of balances, no writes: what the writes add to the floor.
//!
//! Each round runs the three one after the other, the order rotating every round; each
//! figure is the best of the rounds. Every table built is checked against the read-only
//! floor's balances (row count, sum of balances, closed accounts, three accounts), and the
//! runner must have handled 100,000 events. PostgreSQL is the server at `DATABASE_URL`
//! (default postgres://postgres@127.0.0.1:5432/postgres), in a fresh schema dropped before
//! and after; it is skipped with a message when unreachable, unless
//! `ANNALS_REQUIRE_SERVICES=1`.

#[path = "projection_log.rs"]
mod projection_log;

use std::sync::Arc;
use std::time::{Duration, Instant};

use annals::projection::{ProjectionRunner, RunnerOptions};
use annals::projection::{SqlProjection, SqlWriter};
use annals::store::EventStore;
use annals::store::SqlTarget;
use annals::{Project, Projection, Recorded};
use annals_examples::bank::{AccountEvent, Closed, Deposited, Opened, Withdrawn};
use projection_log::{
    ACCOUNTS, Args, Balances, Change, EVENTS, PAGE, TARGET, account_id, decode_raw, drop_schema,
    postgres_floor, postgres_log, print_postgres, rate, ratio, shown, sqlite_floor, sqlite_log,
    verdict,
};

const WAIT: Duration = Duration::from_secs(600);
const PG_SCHEMA: &str = "bench_projection_tables";
/// The floor's copy of the table, beside annals' `balances_v1`.
const FLOOR_TABLE: &str = "floor_balances";

// ------------------------------------------------------------------------------------------
// The read model: annals' and the floor's statements
// ------------------------------------------------------------------------------------------

/// The read model's statements on `table`, with `$n` placeholders (annals on both stores,
/// tokio-postgres) or `?n` (rusqlite). Shared strings: a handler adds one to its
/// `SqlWriter` without copying it.
struct Statements {
    create: String,
    open: Arc<str>,
    add: Arc<str>,
    close: Arc<str>,
}

impl Statements {
    fn on(table: &str, placeholder: char) -> Self {
        let p = placeholder;
        Statements {
            create: format!(
                "CREATE TABLE IF NOT EXISTS {table}
                 (account TEXT PRIMARY KEY, balance BIGINT NOT NULL, closed BOOLEAN NOT NULL)"
            ),
            open: format!("INSERT INTO {table} (account, balance, closed) VALUES ({p}1, 0, false)")
                .into(),
            add: format!("UPDATE {table} SET balance = balance + {p}2 WHERE account = {p}1").into(),
            close: format!("UPDATE {table} SET closed = true WHERE account = {p}1").into(),
        }
    }
}

/// Every account's balance, in a table of the store's database.
#[derive(Projection)]
#[projection(name = "bench_balance_table", events(AccountEvent))]
struct BalanceTable {
    sql: SqlWriter,
    statements: Statements,
}

impl BalanceTable {
    fn new() -> Self {
        BalanceTable {
            sql: SqlWriter::default(),
            statements: Statements::on(&Self::table("balances"), '$'),
        }
    }
}

impl Project<Opened> for BalanceTable {
    fn project(&mut self, opened: Recorded<'_, Opened>) {
        let sql = self.statements.open.clone();
        self.sql.execute(sql, [opened.stream_id.into()]);
    }
}

impl Project<Deposited> for BalanceTable {
    fn project(&mut self, deposit: Recorded<'_, Deposited>) {
        let sql = self.statements.add.clone();
        self.sql
            .execute(sql, [deposit.stream_id.into(), deposit.amount.into()]);
    }
}

impl Project<Withdrawn> for BalanceTable {
    fn project(&mut self, withdrawal: Recorded<'_, Withdrawn>) {
        let sql = self.statements.add.clone();
        self.sql.execute(
            sql,
            [withdrawal.stream_id.into(), (-withdrawal.amount).into()],
        );
    }
}

impl Project<Closed> for BalanceTable {
    fn project(&mut self, closed: Recorded<'_, Closed>) {
        let sql = self.statements.close.clone();
        self.sql.execute(sql, [closed.stream_id.into()]);
    }
}

impl SqlProjection for BalanceTable {
    fn setup() -> Vec<String> {
        vec![Statements::on(&Self::table("balances"), '$').create]
    }

    /// A fresh table: dropped and created again.
    fn reset() -> Vec<String> {
        let table = Self::table("balances");
        vec![
            format!("DROP TABLE IF EXISTS {table}"),
            Statements::on(&table, '$').create,
        ]
    }

    fn writer(&mut self) -> &mut SqlWriter {
        &mut self.sql
    }
}

/// What a table holds, or what it should hold: compared after every run.
#[derive(Debug, PartialEq)]
struct Summary {
    rows: i64,
    total: i64,
    closed: i64,
    /// The balances of a few accounts.
    samples: Vec<Option<i64>>,
}

const SAMPLES: [usize; 3] = [0, ACCOUNTS / 2, ACCOUNTS - 1];

impl Summary {
    /// What the tables must hold: the read-only floor's balances.
    fn of(model: &Balances) -> Self {
        Summary {
            rows: model.by_account.len() as i64,
            total: model.by_account.values().sum(),
            closed: model.closed as i64,
            samples: SAMPLES
                .iter()
                .map(|&a| model.by_account.get(&account_id(a)).copied())
                .collect(),
        }
    }
}

// ------------------------------------------------------------------------------------------
// The floors, per database
// ------------------------------------------------------------------------------------------

/// A store's database through its raw driver: the floors, and the checks of the tables.
trait Floors {
    /// `table` as the raw connection names it.
    fn table(&self, table: &str) -> String;

    /// Drops and creates the floor's table (not timed).
    async fn reset_floor(&self) {
        let table = self.table(FLOOR_TABLE);
        let create = Statements::on(&table, '$').create;
        self.batch(&format!("DROP TABLE IF EXISTS {table}; {create}"))
            .await;
    }

    /// Runs `sql` (statements separated by `;`).
    async fn batch(&self, sql: &str);
    /// The figure's floor: the log into the floor's table.
    async fn floor(&self);
    /// The diagnostic floor: the log into memory.
    async fn read(&self) -> Balances;
    /// What `table` holds.
    async fn summary(&self, table: &str) -> Summary;
}

struct PostgresFloors {
    client: tokio_postgres::Client,
    select: tokio_postgres::Statement,
    /// The floor's open, add and close statements.
    writes: [tokio_postgres::Statement; 3],
}

impl PostgresFloors {
    /// Prepares the floor's statements, once, on a fresh floor table.
    async fn new(client: tokio_postgres::Client) -> Self {
        let statements = Statements::on(&pg_table(FLOOR_TABLE), '$');
        client
            .batch_execute(&statements.create)
            .await
            .expect("create the floor's table");
        let prepare = async |sql: &str| client.prepare(sql).await.expect("prepare");
        let select = prepare(&postgres_floor::needed_sql(PG_SCHEMA)).await;
        let writes = [
            prepare(&statements.open).await,
            prepare(&statements.add).await,
            prepare(&statements.close).await,
        ];
        PostgresFloors {
            client,
            select,
            writes,
        }
    }
}

/// `table` in the bench's schema, for the raw client (whose search path is the default).
fn pg_table(table: &str) -> String {
    format!("\"{PG_SCHEMA}\".{table}")
}

impl Floors for PostgresFloors {
    fn table(&self, table: &str) -> String {
        pg_table(table)
    }

    async fn batch(&self, sql: &str) {
        self.client.batch_execute(sql).await.expect("batch");
    }

    async fn floor(&self) {
        use tokio_postgres::types::ToSql;
        let client = &self.client;
        let [open, add, close] = &self.writes;
        postgres_floor::pages(client, &self.select, async |rows| {
            let writes: Vec<(&tokio_postgres::Statement, &str, i64)> = rows
                .iter()
                .map(|row| {
                    let account: &str = row.get(1);
                    let payload: &str = row.get(3);
                    match decode_raw(row.get(2), payload.as_bytes()) {
                        Change::Open => (open, account, 0),
                        Change::Add(delta) => (add, account, delta),
                        Change::Close => (close, account, 0),
                    }
                })
                .collect();
            client.batch_execute("BEGIN").await.expect("BEGIN");
            // Pipelined: every statement of the page is sent before the first answer.
            let executions = writes.iter().map(|(statement, account, amount)| {
                let params: [&(dyn ToSql + Sync); 2] = [account, amount];
                let arity = statement.params().len();
                client.execute_raw(*statement, params.into_iter().take(arity))
            });
            futures_util::future::try_join_all(executions)
                .await
                .expect("write the page");
            client.batch_execute("COMMIT").await.expect("COMMIT");
        })
        .await;
    }

    async fn read(&self) -> Balances {
        postgres_floor::needed(&self.client, &self.select).await
    }

    async fn summary(&self, table: &str) -> Summary {
        let totals = self
            .client
            .query_one(
                &format!(
                    "SELECT count(*), coalesce(sum(balance), 0)::bigint,
                            count(*) FILTER (WHERE closed) FROM {table}"
                ),
                &[],
            )
            .await
            .expect("summary");
        let mut samples = Vec::new();
        for account in SAMPLES {
            let sql = format!("SELECT balance FROM {table} WHERE account = $1");
            let row = self.client.query_opt(&sql, &[&account_id(account)]).await;
            samples.push(row.expect("sample").map(|row| row.get(0)));
        }
        Summary {
            rows: totals.get(0),
            total: totals.get(1),
            closed: totals.get(2),
            samples,
        }
    }
}

struct SqliteFloors(rusqlite::Connection);

impl Floors for SqliteFloors {
    fn table(&self, table: &str) -> String {
        table.to_owned()
    }

    async fn batch(&self, sql: &str) {
        self.0.execute_batch(sql).expect("batch");
    }

    async fn floor(&self) {
        let connection = &self.0;
        let statements = Statements::on(FLOOR_TABLE, '?');
        let prepare = |sql| connection.prepare_cached(sql).expect("prepare");
        let (mut open, mut add, mut close) = (
            prepare(&statements.open),
            prepare(&statements.add),
            prepare(&statements.close),
        );
        let each = |row: &rusqlite::Row<'_>| {
            let (account, event_type, payload) = sqlite_floor::needed_columns(row);
            match decode_raw(event_type, payload) {
                Change::Open => open.execute([account]),
                Change::Add(delta) => add.execute(rusqlite::params![account, delta]),
                Change::Close => close.execute([account]),
            }
            .expect("write");
        };
        // One transaction per page: the page is read and written inside it.
        let begin = "BEGIN IMMEDIATE";
        connection.execute_batch(begin).expect("BEGIN");
        let page_done = || {
            let next = format!("COMMIT; {begin}");
            connection.execute_batch(&next).expect("COMMIT");
        };
        sqlite_floor::pages(connection, &sqlite_floor::needed_sql(), each, page_done);
        connection.execute_batch("COMMIT").expect("COMMIT");
    }

    async fn read(&self) -> Balances {
        sqlite_floor::needed(&self.0)
    }

    async fn summary(&self, table: &str) -> Summary {
        let (rows, total, closed) = self
            .0
            .query_row(
                &format!(
                    "SELECT count(*), coalesce(sum(balance), 0), coalesce(sum(closed), 0)
                     FROM {table}"
                ),
                [],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .expect("summary");
        let sql = format!("SELECT balance FROM {table} WHERE account = ?1");
        let samples = SAMPLES
            .iter()
            .map(|&account| {
                let balance = self
                    .0
                    .query_row(&sql, [account_id(account)], |row| row.get(0));
                match balance {
                    Ok(balance) => Some(balance),
                    Err(rusqlite::Error::QueryReturnedNoRows) => None,
                    Err(error) => panic!("sample: {error}"),
                }
            })
            .collect();
        Summary {
            rows,
            total,
            closed,
            samples,
        }
    }
}

// ------------------------------------------------------------------------------------------
// Timing
// ------------------------------------------------------------------------------------------

/// The three sides of a round.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Side {
    Annals,
    /// The figure's floor: read, decode, write.
    Floor,
    /// The diagnostic floor: read and decode, no writes.
    Read,
}

const SIDES: [Side; 3] = [Side::Annals, Side::Floor, Side::Read];

/// The best time of each side, in `SIDES`' order, on one store.
struct Figures {
    store: &'static str,
    best: [Duration; 3],
}

/// Starts the read model on a fresh table without a checkpoint, and times its catch-up to
/// `last`.
async fn annals_catch_up<S: EventStore + SqlTarget + Clone>(store: &S, last: u64) -> Duration {
    store
        .reset_projection(&BalanceTable::checkpoint_key(), &BalanceTable::reset())
        .await
        .expect("reset the read model");
    let runner = ProjectionRunner::new(store.clone())
        .with_options(RunnerOptions::default().with_batch_size(PAGE));
    let start = Instant::now();
    let handle = runner
        .spawn_sql(BalanceTable::new())
        .await
        .expect("spawn the read model");
    handle.wait_for(last, WAIT).await.expect("catch-up");
    let took = start.elapsed();
    assert_eq!(handle.handled(), EVENTS as u64, "every event handled");
    handle.stop().await;
    took
}

/// The rounds on one store: annals, the floor and the read-only floor one after the
/// other, the order rotating every round; every table checked against `expected`.
async fn bench<S, F>(
    name: &'static str,
    options: &Options,
    store: &S,
    last: u64,
    floors: &F,
) -> Figures
where
    S: EventStore + SqlTarget + Clone,
    F: Floors,
{
    let expected = Summary::of(&floors.read().await);
    assert_eq!(expected.rows, ACCOUNTS as i64);
    let mut figures = Figures {
        store: name,
        best: [Duration::MAX; 3],
    };
    for round in 0..options.rounds {
        let mut sides = SIDES;
        sides.rotate_left(round % SIDES.len());
        for side in sides {
            if options.skips(side) {
                continue;
            }
            let (took, summary) = match side {
                Side::Annals => (
                    annals_catch_up(store, last).await,
                    floors
                        .summary(&floors.table(&BalanceTable::table("balances")))
                        .await,
                ),
                Side::Floor => {
                    floors.reset_floor().await;
                    let start = Instant::now();
                    floors.floor().await;
                    (
                        start.elapsed(),
                        floors.summary(&floors.table(FLOOR_TABLE)).await,
                    )
                }
                Side::Read => {
                    let start = Instant::now();
                    let model = std::hint::black_box(floors.read().await);
                    (start.elapsed(), Summary::of(&model))
                }
            };
            assert_eq!(summary, expected, "{side:?} built the expected balances");
            let best = &mut figures.best[SIDES.iter().position(|&s| s == side).unwrap()];
            *best = (*best).min(took);
        }
    }
    figures
}

/// What to run: `cargo bench --bench projection_tables -- [--quick] [--rounds N]
/// [--store sqlite|postgres] [--only annals|floor|read]` (the last two to profile one side
/// of one store, e.g. under `perf record`).
type Options = Args<Side>;

// ------------------------------------------------------------------------------------------
// The stores
// ------------------------------------------------------------------------------------------

async fn bench_sqlite(options: &Options) -> Figures {
    let (dir, store, raw, last) = sqlite_log("projection_tables").await;
    let figures = bench("SQLite", options, &store, last, &SqliteFloors(raw)).await;
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
    figures
}

async fn bench_postgres(options: &Options) -> Option<Figures> {
    let (raw, store, last) = postgres_log(PG_SCHEMA).await?;
    let floors = PostgresFloors::new(raw).await;
    let figures = bench("PostgreSQL", options, &store, last, &floors).await;
    drop(store);
    drop_schema(&floors.client, PG_SCHEMA).await;
    Some(figures)
}

fn print(figures: &Figures) {
    let [annals, floor, read] = figures.best;
    let versus_floor = ratio(annals, floor);
    println!(
        "  {:<11} {:>12} {:>12} {:>7}  ≥ {TARGET:.2}× {:<6} {:>12} {:>8}",
        figures.store,
        rate(annals),
        rate(floor),
        shown(versus_floor),
        verdict(versus_floor),
        rate(read),
        shown(ratio(annals, read)),
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let sides = [
        ("annals", Side::Annals),
        ("floor", Side::Floor),
        ("read", Side::Read),
    ];
    let options = Args::parse(5, &sides);
    println!(
        "annals SQL projection catch-up of {EVENTS} events into a table vs a raw keyset-paged \
         read + decode + the same statements, one transaction per page of {PAGE}; best of {} \
         rounds, annals and the floors alternating; ratio = annals events/s / floor events/s; \
         read = the diagnostic read-only floor (read + decode into memory, no writes)",
        options.rounds
    );
    let mut figures = Vec::new();
    if options.runs("sqlite") {
        figures.push(bench_sqlite(&options).await);
    }
    let postgres = if options.runs("postgres") {
        Some(bench_postgres(&options).await)
    } else {
        None
    };
    println!(
        "\n  {:<11} {:>12} {:>12} {:>7}  {:<13} {:>12} {:>8}",
        "store", "annals ev/s", "floor ev/s", "ratio", "target", "read ev/s", "ratio"
    );
    for f in &figures {
        print(f);
    }
    print_postgres(postgres, print);
}
