//! What the two projection benches share (`benches/projections.rs`, into memory, and
//! `benches/projection_tables.rs`, into a table): the log of 100,000 bank events, its
//! in-memory read model, and the floors' raw reads of it.
//!
//! Included by each bench with `#[path = "projection_log.rs"] mod projection_log;`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use annals::store::SqliteStore;
use annals::store::{EventStore, ExpectedVersion, Metadata, NewEvent};
use annals::store::{PostgresOptions, PostgresStore};
use annals::{Event, Project, Projection, Recorded, Uuid};
use annals_examples::bank::{AccountEvent, Closed, Deposited, Opened, Withdrawn};

pub const ACCOUNTS: usize = 1_000;
pub const EVENTS_PER_ACCOUNT: usize = 100;
pub const EVENTS: usize = ACCOUNTS * EVENTS_PER_ACCOUNT;
/// The floor's page size, and the runner's batch size compared with it.
pub const PAGE: usize = 1_000;
/// The target of the ratio annals events/s ÷ floor events/s.
pub const TARGET: f64 = 0.7;

// ------------------------------------------------------------------------------------------
// The read model in memory: annals' in `projections.rs`, and every floor's
// ------------------------------------------------------------------------------------------

/// Every account's balance, from every account event.
#[derive(Projection, Default, Clone, Debug, PartialEq)]
#[projection(name = "bench_balances", events(AccountEvent))]
pub struct Balances {
    pub by_account: HashMap<String, i64>,
    pub closed: usize,
}

/// The read model's updates: the handlers and the floors call the same methods, which
/// allocate a key only for an account they have not seen.
impl Balances {
    fn open(&mut self, account: &str) {
        if !self.by_account.contains_key(account) {
            self.by_account.insert(account.to_owned(), 0);
        }
    }

    fn add(&mut self, account: &str, delta: i64) {
        match self.by_account.get_mut(account) {
            Some(balance) => *balance += delta,
            None => {
                self.by_account.insert(account.to_owned(), delta);
            }
        }
    }

    fn close(&mut self) {
        self.closed += 1;
    }
}

impl Project<Opened> for Balances {
    fn project(&mut self, opened: Recorded<'_, Opened>) {
        self.open(opened.stream_id);
    }
}

impl Project<Deposited> for Balances {
    fn project(&mut self, deposit: Recorded<'_, Deposited>) {
        self.add(deposit.stream_id, deposit.amount);
    }
}

impl Project<Withdrawn> for Balances {
    fn project(&mut self, withdrawal: Recorded<'_, Withdrawn>) {
        self.add(withdrawal.stream_id, -withdrawal.amount);
    }
}

impl Project<Closed> for Balances {
    fn project(&mut self, _: Recorded<'_, Closed>) {
        self.close();
    }
}

/// What one event does to its account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    Open,
    Add(i64),
    Close,
}

/// The floors' own decode: a hand-written `match` on the type name, serde_json into the
/// payload types.
#[inline]
pub fn decode_raw(event_type: &str, payload: &[u8]) -> Change {
    match event_type {
        "Opened" => {
            let _: Opened = serde_json::from_slice(payload).expect("Opened payload");
            Change::Open
        }
        "Deposited" => {
            let deposit: Deposited = serde_json::from_slice(payload).expect("Deposited payload");
            Change::Add(deposit.amount)
        }
        "Withdrawn" => {
            let withdrawal: Withdrawn = serde_json::from_slice(payload).expect("Withdrawn payload");
            Change::Add(-withdrawal.amount)
        }
        "Closed" => {
            let _: Closed = serde_json::from_slice(payload).expect("Closed payload");
            Change::Close
        }
        other => panic!("unexpected event type {other}"),
    }
}

/// The floors' dispatch into memory: [`decode_raw`], then the same update as the handlers.
pub fn project_raw(model: &mut Balances, stream_id: &str, event_type: &str, payload: &[u8]) {
    match decode_raw(event_type, payload) {
        Change::Open => model.open(stream_id),
        Change::Add(delta) => model.add(stream_id, delta),
        Change::Close => model.close(),
    }
}

// ------------------------------------------------------------------------------------------
// The log
// ------------------------------------------------------------------------------------------

pub fn account_id(account: usize) -> String {
    format!("account-{account:04}")
}

/// One account's 100 events: Opened, then deposits with a transfer reference and, every
/// fourth event, a withdrawal; each with a correlation id per account and the event as its
/// own cause, as the command path writes.
pub fn account_events(account: usize) -> Vec<NewEvent> {
    let correlation = Uuid::now_v7();
    (0..EVENTS_PER_ACCOUNT)
        .map(|n| {
            let event: AccountEvent = match n {
                0 => Opened {
                    owner: format!("Holder {account}"),
                }
                .into(),
                n if n % 4 == 0 => Withdrawn {
                    amount: (n % 7) as i64 + 1,
                }
                .into(),
                n => Deposited {
                    amount: 100 + n as i64,
                    reference: format!("SEPA transfer 2026-11-22/ACC-{account:04}/{n:04}"),
                }
                .into(),
            };
            let encoded = event.encode().expect("bank events encode");
            let mut new = NewEvent::new(
                encoded.event_type,
                encoded.schema_version,
                encoded.payload,
                Metadata::default(),
            );
            new.metadata = Metadata::default()
                .correlated_with(correlation)
                .caused_by(new.event_id);
            new
        })
        .collect()
}

/// Appends the 100,000 events; returns the position of the last one.
pub async fn fill<S: EventStore>(store: &S) -> u64 {
    let mut last = 0;
    for account in 0..ACCOUNTS {
        let appended = store
            .append(
                &account_id(account),
                ExpectedVersion::NoStream,
                account_events(account),
            )
            .await
            .expect("fill the log");
        last = appended.last_position();
    }
    last
}

// ------------------------------------------------------------------------------------------
// The floors' reads: keyset-paged by position, the columns the read model needs
// ------------------------------------------------------------------------------------------

pub mod sqlite_floor {
    use super::{Balances, PAGE, project_raw};
    use rusqlite::{Connection, Row};

    pub fn needed_sql() -> String {
        format!(
            "SELECT position, stream_id, event_type, payload FROM annals_events
             WHERE position > ?1 ORDER BY position LIMIT {PAGE}"
        )
    }

    /// Walks the log in pages of [`PAGE`] with `sql` (keyset-paged by the position in its
    /// first column), handing each row to `row` and calling `page_done` after each page.
    pub fn pages(
        connection: &Connection,
        sql: &str,
        mut row: impl FnMut(&Row<'_>),
        mut page_done: impl FnMut(),
    ) {
        let mut statement = connection.prepare_cached(sql).expect("prepare");
        let mut after = 0i64;
        loop {
            let mut rows = statement.query([after]).expect("query");
            let mut read = 0;
            while let Some(r) = rows.next().expect("row") {
                after = r.get(0).expect("position");
                row(r);
                read += 1;
            }
            page_done();
            if read < PAGE {
                return;
            }
        }
    }

    /// A row of [`needed_sql`], borrowed: stream id, event type, payload.
    pub fn needed_columns<'r>(row: &'r Row<'_>) -> (&'r str, &'r str, &'r [u8]) {
        let stream_id = row.get_ref(1).and_then(|v| Ok(v.as_str()?));
        let event_type = row.get_ref(2).and_then(|v| Ok(v.as_str()?));
        let payload = row.get_ref(3).and_then(|v| Ok(v.as_blob()?));
        (
            stream_id.expect("stream_id"),
            event_type.expect("event_type"),
            payload.expect("payload"),
        )
    }

    /// The read-only floor: the columns the read model needs, borrowed, into memory.
    pub fn needed(connection: &Connection) -> Balances {
        let mut model = Balances::default();
        let each = |row: &Row<'_>| {
            let (stream_id, event_type, payload) = needed_columns(row);
            project_raw(&mut model, stream_id, event_type, payload);
        };
        pages(connection, &needed_sql(), each, || {});
        model
    }
}

pub mod postgres_floor {
    use super::{Balances, PAGE, project_raw};
    use tokio_postgres::{Client, Row, Statement};

    pub fn needed_sql(schema: &str) -> String {
        format!(
            "SELECT position, stream_id, event_type, payload::text FROM \"{schema}\".events
             WHERE position > $1 ORDER BY position LIMIT {PAGE}"
        )
    }

    /// Walks the log in pages of [`PAGE`] with `statement` (keyset-paged by the position in
    /// its first column), handing each page's rows to `page`.
    pub async fn pages(client: &Client, statement: &Statement, mut page: impl AsyncFnMut(&[Row])) {
        let mut after = 0i64;
        loop {
            let rows = client.query(statement, &[&after]).await.expect("query");
            page(&rows).await;
            if let Some(last) = rows.last() {
                after = last.get(0);
            }
            if rows.len() < PAGE {
                return;
            }
        }
    }

    /// The read-only floor: [`needed_sql`]'s columns, borrowed, into memory.
    pub async fn needed(client: &Client, statement: &Statement) -> Balances {
        let mut model = Balances::default();
        pages(client, statement, async |rows| {
            for row in rows {
                let payload: &str = row.get(3);
                project_raw(&mut model, row.get(1), row.get(2), payload.as_bytes());
            }
        })
        .await;
        model
    }
}

// ------------------------------------------------------------------------------------------
// The stores holding the log
// ------------------------------------------------------------------------------------------

/// A fresh SQLite file in a directory of its own (`name` and the process id; remove it at
/// the end) holding the log: the directory, the store, a raw connection to the file
/// (`synchronous = NORMAL`, as the store) and the last position.
pub async fn sqlite_log(name: &str) -> (PathBuf, SqliteStore, rusqlite::Connection, u64) {
    let dir = std::env::temp_dir().join(format!("annals-bench-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(format!("{name}.sqlite"));
    let store = SqliteStore::open(&path).expect("open SQLite");
    let last = fill(&store).await;
    let raw = rusqlite::Connection::open(&path).expect("open the raw connection");
    raw.pragma_update(None, "synchronous", "NORMAL")
        .expect("pragma");
    (dir, store, raw, last)
}

/// A fresh PostgreSQL schema holding the log, analyzed: a raw client, the store (a pool of
/// two connections) and the last position; `None` when the server is unreachable. Drop the
/// schema at the end with [`drop_schema`].
pub async fn postgres_log(schema: &str) -> Option<(tokio_postgres::Client, PostgresStore, u64)> {
    let raw = raw_pg().await?;
    drop_schema(&raw, schema).await;
    let store = PostgresStore::connect_with(
        PostgresOptions::new(database_url())
            .with_schema(schema)
            .with_pool_size(2),
    )
    .await
    .expect("connect the store");
    let last = fill(&store).await;
    raw.batch_execute(&format!("ANALYZE \"{schema}\".events"))
        .await
        .expect("analyze");
    Some((raw, store, last))
}

pub async fn drop_schema(client: &tokio_postgres::Client, schema: &str) {
    client
        .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .await
        .expect("drop the schema");
}

fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

async fn raw_pg() -> Option<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(&database_url(), tokio_postgres::NoTls)
        .await
        .ok()?;
    tokio::spawn(connection);
    Some(client)
}

// ------------------------------------------------------------------------------------------
// The command line and the figures
// ------------------------------------------------------------------------------------------

/// What to run: `--quick` (one round) or `--rounds N`; `--store NAME` and `--only SIDE` to
/// profile one side of one store (e.g. under `perf record`).
pub struct Args<S> {
    pub rounds: usize,
    pub store: Option<String>,
    pub only: Option<S>,
}

impl<S: Copy + PartialEq> Args<S> {
    /// `sides`: the names `--only` accepts.
    pub fn parse(default_rounds: usize, sides: &[(&str, S)]) -> Self {
        let args: Vec<String> = std::env::args().collect();
        let value = |flag: &str| {
            args.iter()
                .position(|a| a == flag)
                .and_then(|i| args.get(i + 1).cloned())
        };
        let quick = args.iter().any(|a| a == "--quick");
        let rounds = value("--rounds")
            .map(|r| r.parse().expect("--rounds N"))
            .unwrap_or(if quick { 1 } else { default_rounds });
        let only = value("--only").map(|side| {
            let names: Vec<_> = sides.iter().map(|(name, _)| *name).collect();
            sides
                .iter()
                .find(|(name, _)| *name == side)
                .unwrap_or_else(|| panic!("--only {}, not {side}", names.join("|")))
                .1
        });
        Args {
            rounds,
            store: value("--store"),
            only,
        }
    }

    pub fn runs(&self, store: &str) -> bool {
        self.store.as_deref().is_none_or(|s| s == store)
    }

    pub fn skips(&self, side: S) -> bool {
        self.only.is_some_and(|only| only != side)
    }
}

/// Events per second of a catch-up of the log; `-` for a side that did not run.
pub fn rate(took: Duration) -> String {
    if took == Duration::MAX {
        "-".to_owned()
    } else {
        format!("{:.0}", EVENTS as f64 / took.as_secs_f64())
    }
}

/// annals events/s ÷ floor events/s; `None` where one of them did not run.
pub fn ratio(annals: Duration, floor: Duration) -> Option<f64> {
    (annals != Duration::MAX && floor != Duration::MAX)
        .then(|| floor.as_secs_f64() / annals.as_secs_f64())
}

pub fn shown(ratio: Option<f64>) -> String {
    ratio.map_or("-".to_owned(), |r| format!("{r:.2}×"))
}

/// Whether `ratio` meets [`TARGET`].
pub fn verdict(ratio: Option<f64>) -> &'static str {
    match ratio {
        None => "",
        Some(r) if r >= TARGET => "met",
        Some(_) => "MISSED",
    }
}

/// PostgreSQL's row of the table: its figures, or SKIPPED where the server was unreachable
/// (a panic instead under `ANNALS_REQUIRE_SERVICES=1`); nothing where it did not run.
pub fn print_postgres<F>(figures: Option<Option<F>>, print: impl Fn(&F)) {
    match figures {
        Some(Some(f)) => print(&f),
        Some(None) if std::env::var("ANNALS_REQUIRE_SERVICES").as_deref() == Ok("1") => {
            panic!("PostgreSQL is unreachable at DATABASE_URL and ANNALS_REQUIRE_SERVICES=1")
        }
        Some(None) => println!("  PostgreSQL: SKIPPED, the server is unreachable (DATABASE_URL)"),
        None => {}
    }
}
