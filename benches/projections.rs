//! Projection catch-up against raw keyset-paged reads, in one run (issue: projections).
//!
//! `cargo bench --bench projections` (add `-- --quick` for one round). The figure: catch-up
//! of 100,000 bank events into an in-memory read model (per-account balances in a
//! `HashMap`), in events/s, beside a floor measured in the same run and reported as a ratio
//! annals / floor (target ≥ 0.7), on each store:
//!
//! - annals: a `#[derive(Projection)]` read model consuming the whole `AccountEvent` enum,
//!   spawned with `ProjectionRunner` from position 0, timed from `spawn` until
//!   `wait_for(last position)` returns (the runner has read the log in batches and come back
//!   with a short read: caught up).
//! - floor: what a hand-written program does with the raw driver: a keyset-paged read of
//!   the same rows, in pages of 1,000, ordered by position, each payload decoded with
//!   serde_json into the same payload structs through a `match` on the type name, and
//!   applied to the same struct with the same methods.
//!   - memory: `InMemoryStore::read_all` *is* the store's keyset read, so the floor is the
//!     log cloned once beforehand (not timed) and walked in pages of 1,000;
//!   - SQLite: rusqlite, `SELECT position, stream_id, event_type, payload FROM
//!     annals_events WHERE position > ?1 ORDER BY position LIMIT 1000`, columns borrowed;
//!   - PostgreSQL: tokio-postgres, `SELECT position, stream_id, event_type, payload::text
//!     FROM "schema".events WHERE position > $1 ORDER BY position LIMIT 1000`, prepared.
//!
//!   (`stream_id` is in the floor's SELECT because the read model is per account.)
//!
//! Each round runs annals and the floor one after the other (the order flips every round);
//! each figure is the best of the rounds. The 100,000 events are 1,000 accounts × (Opened +
//! 99 deposits and withdrawals), each account appended with one `EventStore::append` of
//! 100 events (an append is atomic per stream, so 100 is the largest batch per account),
//! with the correlation and causation ids the command path writes. PostgreSQL is the server
//! at `DATABASE_URL` (default postgres://postgres@127.0.0.1:5432/postgres), in a fresh
//! schema dropped at the end; it is skipped with a message when unreachable, unless
//! `ANNALS_REQUIRE_SERVICES=1`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use annals::projection::{ProjectionRunner, RunnerOptions};
use annals::store::postgres::{PostgresOptions, PostgresStore};
use annals::store::sqlite::SqliteStore;
use annals::{
    Event, EventFilter, EventStore, ExpectedVersion, InMemoryStore, Metadata, NewEvent, Project,
    Projection, Recorded, RecordedEvent, Uuid,
};
use annals_examples::bank::{AccountEvent, Closed, Deposited, Opened, Withdrawn};

const ACCOUNTS: usize = 1_000;
const EVENTS_PER_ACCOUNT: usize = 100;
const EVENTS: usize = ACCOUNTS * EVENTS_PER_ACCOUNT;
/// The floor's page size, and the runner's batch size compared with it.
const PAGE: usize = 1_000;
const WAIT: Duration = Duration::from_secs(600);
const PG_SCHEMA: &str = "bench_projections";
const TARGET: f64 = 0.7;

// ------------------------------------------------------------------------------------------
// The read model, shared by annals and the floors
// ------------------------------------------------------------------------------------------

/// Every account's balance, from every account event.
#[derive(Projection, Default, Clone, Debug, PartialEq)]
#[projection(name = "bench_balances", events(AccountEvent))]
struct Balances {
    by_account: HashMap<String, i64>,
    closed: usize,
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

/// The floors' own dispatch: a hand-written `match` on the type name, serde_json into the
/// payload types, then the same update as the handlers.
fn project_raw(model: &mut Balances, stream_id: &str, event_type: &str, payload: &[u8]) {
    match event_type {
        "Opened" => {
            let _: Opened = serde_json::from_slice(payload).expect("Opened payload");
            model.open(stream_id);
        }
        "Deposited" => {
            let deposit: Deposited = serde_json::from_slice(payload).expect("Deposited payload");
            model.add(stream_id, deposit.amount);
        }
        "Withdrawn" => {
            let withdrawal: Withdrawn = serde_json::from_slice(payload).expect("Withdrawn payload");
            model.add(stream_id, -withdrawal.amount);
        }
        "Closed" => {
            let _: Closed = serde_json::from_slice(payload).expect("Closed payload");
            model.close();
        }
        other => panic!("unexpected event type {other}"),
    }
}

// ------------------------------------------------------------------------------------------
// The log
// ------------------------------------------------------------------------------------------

fn account_id(account: usize) -> String {
    format!("account-{account:04}")
}

/// One account's 100 events: Opened, then deposits with a transfer reference and, every
/// fourth event, a withdrawal; each with a correlation id per account and the event as its
/// own cause, as the command path writes.
fn account_events(account: usize) -> Vec<NewEvent> {
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
async fn fill<S: EventStore>(store: &S) -> u64 {
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
// Timing
// ------------------------------------------------------------------------------------------

/// The best figures of one store across rounds.
struct Figures {
    store: &'static str,
    /// Per runner batch size: the best catch-up time.
    annals: Vec<(usize, Duration)>,
    floor: Duration,
}

impl Figures {
    fn new(store: &'static str, batch_sizes: &[usize]) -> Self {
        Figures {
            store,
            annals: batch_sizes.iter().map(|&b| (b, Duration::MAX)).collect(),
            floor: Duration::MAX,
        }
    }

    fn keep_annals(&mut self, batch_size: usize, took: Duration) {
        for (b, best) in &mut self.annals {
            if *b == batch_size {
                *best = (*best).min(took);
            }
        }
    }

    fn keep_floor(&mut self, took: Duration) {
        self.floor = self.floor.min(took);
    }
}

fn per_second(took: Duration) -> f64 {
    EVENTS as f64 / took.as_secs_f64()
}

/// Spawns the projection from position 0 and times its catch-up to `last`.
async fn annals_catch_up<S: EventStore + Clone>(
    store: &S,
    batch_size: usize,
    last: u64,
) -> (Duration, Balances) {
    let runner = ProjectionRunner::new(store.clone()).with_options(RunnerOptions {
        batch_size,
        ..RunnerOptions::default()
    });
    let start = Instant::now();
    let handle = runner.spawn(Balances::default());
    handle.wait_for(last, WAIT).await.expect("catch-up");
    let took = start.elapsed();
    assert_eq!(handle.handled(), EVENTS as u64, "every event handled");
    let model = handle.read(Balances::clone);
    handle.stop().await;
    (took, model)
}

/// The floor of the in-memory store: the log, cloned beforehand, walked in pages of 1,000
/// by position (the event at position `p` is at index `p - 1`).
fn memory_floor(log: &[RecordedEvent]) -> Balances {
    let mut model = Balances::default();
    let mut after = 0usize;
    loop {
        let start = after.min(log.len());
        let page = &log[start..(start + PAGE).min(log.len())];
        for recorded in page {
            project_raw(
                &mut model,
                &recorded.stream_id,
                &recorded.event_type,
                &recorded.payload,
            );
            after = recorded.position as usize;
        }
        if page.len() < PAGE {
            return model;
        }
    }
}

fn sqlite_floor(connection: &rusqlite::Connection) -> Balances {
    let mut statement = connection
        .prepare_cached(&format!(
            "SELECT position, stream_id, event_type, payload FROM annals_events
             WHERE position > ?1 ORDER BY position LIMIT {PAGE}"
        ))
        .expect("prepare");
    let mut model = Balances::default();
    let mut after = 0i64;
    loop {
        let mut rows = statement.query([after]).expect("query");
        let mut read = 0;
        while let Some(row) = rows.next().expect("row") {
            after = row.get(0).expect("position");
            let stream_id = row.get_ref(1).and_then(|v| Ok(v.as_str()?));
            let event_type = row.get_ref(2).and_then(|v| Ok(v.as_str()?));
            let payload = row.get_ref(3).and_then(|v| Ok(v.as_blob()?));
            project_raw(
                &mut model,
                stream_id.expect("stream_id"),
                event_type.expect("event_type"),
                payload.expect("payload"),
            );
            read += 1;
        }
        if read < PAGE {
            return model;
        }
    }
}

async fn postgres_floor(
    client: &tokio_postgres::Client,
    statement: &tokio_postgres::Statement,
) -> Balances {
    let mut model = Balances::default();
    let mut after = 0i64;
    loop {
        let rows = client.query(statement, &[&after]).await.expect("query");
        for row in &rows {
            after = row.get(0);
            let stream_id: &str = row.get(1);
            let event_type: &str = row.get(2);
            let payload: &str = row.get(3);
            project_raw(&mut model, stream_id, event_type, payload.as_bytes());
        }
        if rows.len() < PAGE {
            return model;
        }
    }
}

/// What to run: `cargo bench --bench projections -- [--quick] [--rounds N]
/// [--store memory|sqlite|postgres] [--only annals|floor]` (the last two for profiling one
/// side of one store, e.g. under `perf record`).
#[derive(Clone)]
struct Options {
    rounds: usize,
    store: Option<String>,
    annals: bool,
    floor: bool,
    batch_sizes: Vec<usize>,
}

impl Options {
    fn from_args() -> Self {
        let args: Vec<String> = std::env::args().collect();
        let value = |flag: &str| {
            args.iter()
                .position(|a| a == flag)
                .and_then(|i| args.get(i + 1).cloned())
        };
        let quick = args.iter().any(|a| a == "--quick");
        let rounds = value("--rounds")
            .map(|r| r.parse().expect("--rounds N"))
            .unwrap_or(if quick { 1 } else { 5 });
        let only = value("--only");
        let mut batch_sizes = vec![PAGE];
        let default = RunnerOptions::default().batch_size;
        if default != PAGE {
            batch_sizes.push(default);
        }
        Options {
            rounds,
            store: value("--store"),
            annals: only.as_deref() != Some("floor"),
            floor: only.as_deref() != Some("annals"),
            batch_sizes,
        }
    }

    fn runs(&self, store: &str) -> bool {
        self.store.as_deref().is_none_or(|s| s == store)
    }
}

/// One round on one store: annals at each batch size and the floor, in an order that flips
/// every round; every read model built is checked against the others.
async fn round<S, F, Fut>(
    figures: &mut Figures,
    options: &Options,
    store: &S,
    last: u64,
    round: usize,
    mut floor: F,
) where
    S: EventStore + Clone,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Balances>,
{
    let mut models = Vec::new();
    for step in 0..2 {
        if (step + round).is_multiple_of(2) {
            if !options.annals {
                continue;
            }
            for &batch_size in &options.batch_sizes {
                let (took, model) = annals_catch_up(store, batch_size, last).await;
                figures.keep_annals(batch_size, took);
                models.push(model);
            }
        } else {
            if !options.floor {
                continue;
            }
            let start = Instant::now();
            let model = std::hint::black_box(floor().await);
            figures.keep_floor(start.elapsed());
            models.push(model);
        }
    }
    for model in &models {
        assert_eq!(model.by_account.len(), ACCOUNTS);
        assert_eq!(model, &models[0], "every run built the same read model");
    }
}

// ------------------------------------------------------------------------------------------
// The stores
// ------------------------------------------------------------------------------------------

async fn bench_memory(options: &Options) -> Figures {
    let store = InMemoryStore::new();
    let last = fill(&store).await;
    let log = store
        .read_all(0, usize::MAX, &EventFilter::all())
        .await
        .expect("read the log");
    assert_eq!(log.len(), EVENTS);
    let mut figures = Figures::new("memory", &options.batch_sizes);
    for r in 0..options.rounds {
        round(&mut figures, options, &store, last, r, || {
            let model = memory_floor(&log);
            async move { model }
        })
        .await;
    }
    figures
}

async fn bench_sqlite(options: &Options) -> Figures {
    let dir = std::env::temp_dir().join(format!("annals-bench-projections-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("projections.sqlite");
    let store = SqliteStore::open(&path).expect("open SQLite");
    let last = fill(&store).await;
    let raw = rusqlite::Connection::open(&path).expect("open the raw connection");
    raw.pragma_update(None, "synchronous", "NORMAL")
        .expect("pragma");
    let mut figures = Figures::new("SQLite", &options.batch_sizes);
    for r in 0..options.rounds {
        round(&mut figures, options, &store, last, r, || {
            let model = sqlite_floor(&raw);
            async move { model }
        })
        .await;
    }
    drop((raw, store));
    let _ = std::fs::remove_dir_all(&dir);
    figures
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

async fn bench_postgres(options: &Options) -> Option<Figures> {
    let raw = raw_pg().await?;
    raw.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{PG_SCHEMA}\" CASCADE"))
        .await
        .expect("drop the schema");
    let store = PostgresStore::connect_with(
        PostgresOptions::new(database_url())
            .schema(PG_SCHEMA)
            .pool_size(2),
    )
    .await
    .expect("connect the store");
    let last = fill(&store).await;
    raw.batch_execute(&format!("ANALYZE \"{PG_SCHEMA}\".events"))
        .await
        .expect("analyze");
    let statement = raw
        .prepare(&format!(
            "SELECT position, stream_id, event_type, payload::text FROM \"{PG_SCHEMA}\".events
             WHERE position > $1 ORDER BY position LIMIT {PAGE}"
        ))
        .await
        .expect("prepare");
    let mut figures = Figures::new("PostgreSQL", &options.batch_sizes);
    for r in 0..options.rounds {
        round(&mut figures, options, &store, last, r, || {
            postgres_floor(&raw, &statement)
        })
        .await;
    }
    drop(store);
    raw.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{PG_SCHEMA}\" CASCADE"))
        .await
        .expect("drop the schema");
    Some(figures)
}

fn print(figures: &Figures) {
    let shown = |took: Duration| {
        if took == Duration::MAX {
            "-".to_owned()
        } else {
            format!("{:.0}", per_second(took))
        }
    };
    for (batch_size, took) in &figures.annals {
        let ratio = per_second(*took) / per_second(figures.floor);
        let (ratio, verdict) = if *took == Duration::MAX || figures.floor == Duration::MAX {
            ("-".to_owned(), "")
        } else if ratio >= TARGET {
            (format!("{ratio:.2}×"), "met")
        } else {
            (format!("{ratio:.2}×"), "MISSED")
        };
        println!(
            "  {:<11} {:>7} {:>14} {:>14} {:>8}  ≥ {TARGET:.2}× {verdict}",
            figures.store,
            batch_size,
            shown(*took),
            shown(figures.floor),
            ratio
        );
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let options = Options::from_args();
    println!(
        "annals projection catch-up of {EVENTS} events vs a raw keyset-paged read + decode \
         (pages of {PAGE}); best of {} rounds, annals and floor alternating; \
         ratio = annals / floor",
        options.rounds
    );
    let default = RunnerOptions::default().batch_size;
    if default == PAGE {
        println!(
            "(the runner's default batch size is {default}: the batch-{PAGE} row is the default)"
        );
    }
    let mut figures = Vec::new();
    if options.runs("memory") {
        figures.push(bench_memory(&options).await);
    }
    if options.runs("sqlite") {
        figures.push(bench_sqlite(&options).await);
    }
    let postgres = if options.runs("postgres") {
        let figures = bench_postgres(&options).await;
        if figures.is_none() && std::env::var("ANNALS_REQUIRE_SERVICES").as_deref() == Ok("1") {
            panic!("PostgreSQL is unreachable at DATABASE_URL and ANNALS_REQUIRE_SERVICES=1");
        }
        Some(figures)
    } else {
        None
    };
    println!(
        "\n  {:<11} {:>7} {:>14} {:>14} {:>8}  target",
        "store", "batch", "annals ev/s", "floor ev/s", "ratio"
    );
    for f in &figures {
        print(f);
    }
    match postgres {
        Some(Some(f)) => print(&f),
        Some(None) => println!("  PostgreSQL: SKIPPED, the server is unreachable (DATABASE_URL)"),
        None => {}
    }
}
