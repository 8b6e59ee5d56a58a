//! Projection catch-up against raw keyset-paged reads, in one run (issue: projections).
//!
//! `cargo bench --bench projections` (`-- --quick` for one round; `--rounds N`; `--store
//! memory|sqlite|postgres` and `--only annals|floor|envelope` to profile one reader of one
//! store). The figure: catch-up of 100,000 bank events into an in-memory read model
//! (per-account balances in a `HashMap`), in events/s, beside a floor measured in the same
//! run and reported as a ratio annals / floor (target ≥ 0.7), on each store:
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
//! - envelope (diagnostic, SQLite and PostgreSQL): the same loop selecting every column
//!   `read_all` selects (the envelope a handler sees: stream version, event id, schema
//!   version, metadata, recorded-at), borrowed, the metadata decoded. annals / envelope
//!   separates the runtime's own overhead from the cost of reading the whole envelope.
//!
//! Each round runs annals and the floors one after the other (the order rotates every
//! round); each figure is the best of the rounds, and every reader's read model is checked
//! equal. The 100,000 events are 1,000 accounts × (Opened + 99 deposits and withdrawals),
//! each account appended with one `EventStore::append` of 100 events (an append is atomic
//! per stream, so 100 is the largest batch per account), with the correlation and
//! causation ids the command path writes. PostgreSQL is the server at `DATABASE_URL`
//! (default postgres://postgres@127.0.0.1:5432/postgres), in a fresh schema dropped at the
//! end; it is skipped with a message when unreachable, unless `ANNALS_REQUIRE_SERVICES=1`.

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

/// The three readers of a round.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Side {
    Annals,
    /// The figure's floor: the columns the read model needs.
    Floor,
    /// The diagnostic floor: every column of the envelope that `Recorded` hands the handlers.
    Envelope,
}

/// The best figures of one store across rounds.
struct Figures {
    store: &'static str,
    /// Per runner batch size: the best catch-up time.
    annals: Vec<(usize, Duration)>,
    floor: Duration,
    /// `None` where there is no envelope floor (memory: the records are the envelope).
    envelope: Option<Duration>,
}

impl Figures {
    fn new(store: &'static str, batch_sizes: &[usize], envelope: bool) -> Self {
        Figures {
            store,
            annals: batch_sizes.iter().map(|&b| (b, Duration::MAX)).collect(),
            floor: Duration::MAX,
            envelope: envelope.then_some(Duration::MAX),
        }
    }

    fn keep(&mut self, side: Side, batch_size: usize, took: Duration) {
        match side {
            Side::Annals => {
                for (b, best) in &mut self.annals {
                    if *b == batch_size {
                        *best = (*best).min(took);
                    }
                }
            }
            Side::Floor => self.floor = self.floor.min(took),
            Side::Envelope => {
                if let Some(best) = &mut self.envelope {
                    *best = (*best).min(took);
                }
            }
        }
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

/// What the envelope floors decode besides the payload: the envelope fields a `Recorded`
/// carries, kept from the optimiser with `black_box`.
fn envelope(stream_version: i64, event_id: Uuid, schema_version: i64, metadata: Option<&[u8]>) {
    let metadata = metadata.map(|json| serde_json::from_slice::<Metadata>(json).expect("metadata"));
    std::hint::black_box((stream_version, event_id, schema_version, metadata));
}

mod sqlite_floor {
    use super::*;
    use rusqlite::Connection;

    /// The figure's floor: the columns the read model needs, borrowed.
    pub fn needed(connection: &Connection) -> Balances {
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

    /// The diagnostic floor: every column `read_all` selects, borrowed, the metadata
    /// decoded.
    pub fn envelope(connection: &Connection) -> Balances {
        let mut statement = connection
            .prepare_cached(&format!(
                "SELECT position, stream_id, stream_version, event_id, event_type, schema_version,
                        payload, metadata, recorded_at
                 FROM annals_events WHERE position > ?1 ORDER BY position LIMIT {PAGE}"
            ))
            .expect("prepare");
        let mut model = Balances::default();
        let mut after = 0i64;
        loop {
            let mut rows = statement.query([after]).expect("query");
            let mut read = 0;
            while let Some(row) = rows.next().expect("row") {
                after = row.get(0).expect("position");
                let text = |i| row.get_ref(i).and_then(|v| Ok(v.as_str()?)).expect("text");
                let event_id = row.get_ref(3).and_then(|v| Ok(v.as_blob()?)).expect("id");
                let metadata = row.get_ref(7).and_then(|v| Ok(v.as_str_or_null()?));
                let recorded_at: i64 = row.get(8).expect("recorded_at");
                super::envelope(
                    row.get(2).expect("stream_version"),
                    Uuid::from_slice(event_id).expect("uuid"),
                    row.get(5).expect("schema_version"),
                    metadata.expect("metadata").map(str::as_bytes),
                );
                std::hint::black_box(chrono::DateTime::from_timestamp_micros(recorded_at));
                let payload = row.get_ref(6).and_then(|v| Ok(v.as_blob()?));
                project_raw(&mut model, text(1), text(4), payload.expect("payload"));
                read += 1;
            }
            if read < PAGE {
                return model;
            }
        }
    }
}

mod postgres_floor {
    use super::*;
    use tokio_postgres::types::{FromSql, Type};
    use tokio_postgres::{Client, Statement};

    /// A `jsonb` value in PostgreSQL's binary format (a version byte, then the JSON text),
    /// borrowed: what the store reads.
    struct Jsonb<'a>(&'a [u8]);

    impl<'a> FromSql<'a> for Jsonb<'a> {
        fn from_sql(
            _: &Type,
            raw: &'a [u8],
        ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
            match raw.split_first() {
                Some((1, json)) => Ok(Jsonb(json)),
                _ => Err("unsupported jsonb format".into()),
            }
        }

        fn accepts(ty: &Type) -> bool {
            *ty == Type::JSONB
        }
    }

    pub fn needed_sql() -> String {
        format!(
            "SELECT position, stream_id, event_type, payload::text FROM \"{PG_SCHEMA}\".events
             WHERE position > $1 ORDER BY position LIMIT {PAGE}"
        )
    }

    pub fn envelope_sql() -> String {
        format!(
            "SELECT position, stream_id, stream_version, event_id, event_type, schema_version,
                    payload, metadata, recorded_at
             FROM \"{PG_SCHEMA}\".events WHERE position > $1 ORDER BY position LIMIT {PAGE}"
        )
    }

    /// The figure's floor: the columns the read model needs, borrowed.
    pub async fn needed(client: &Client, statement: &Statement) -> Balances {
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

    /// The diagnostic floor: every column `read_all` selects, `jsonb` in binary, borrowed,
    /// the metadata decoded.
    pub async fn envelope(client: &Client, statement: &Statement) -> Balances {
        let mut model = Balances::default();
        let mut after = 0i64;
        loop {
            let rows = client.query(statement, &[&after]).await.expect("query");
            for row in &rows {
                after = row.get(0);
                let metadata: Option<Jsonb<'_>> = row.get(7);
                super::envelope(
                    row.get(2),
                    row.get(3),
                    row.get::<_, i32>(5).into(),
                    metadata.map(|m| m.0),
                );
                std::hint::black_box(row.get::<_, chrono::DateTime<chrono::Utc>>(8));
                let payload: Jsonb<'_> = row.get(6);
                project_raw(&mut model, row.get(1), row.get(4), payload.0);
            }
            if rows.len() < PAGE {
                return model;
            }
        }
    }
}

/// What to run: `cargo bench --bench projections -- [--quick] [--rounds N]
/// [--store memory|sqlite|postgres] [--only annals|floor|envelope]` (the last two to profile
/// one reader of one store, e.g. under `perf record`).
struct Options {
    rounds: usize,
    store: Option<String>,
    only: Option<Side>,
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
            .unwrap_or(if quick { 1 } else { 10 });
        let only = value("--only").map(|side| match side.as_str() {
            "annals" => Side::Annals,
            "floor" => Side::Floor,
            "envelope" => Side::Envelope,
            other => panic!("--only annals|floor|envelope, not {other}"),
        });
        let mut batch_sizes = vec![PAGE];
        let default = RunnerOptions::default().batch_size;
        if default != PAGE {
            batch_sizes.push(default);
        }
        Options {
            rounds,
            store: value("--store"),
            only,
            batch_sizes,
        }
    }

    fn runs(&self, store: &str) -> bool {
        self.store.as_deref().is_none_or(|s| s == store)
    }
}

/// One round on one store: annals at each batch size, the floor and the envelope floor
/// (where `floor(Side::Envelope)` is given), in an order that rotates every round; every
/// read model built is checked against the others.
async fn round<S, F, Fut>(
    figures: &mut Figures,
    options: &Options,
    store: &S,
    last: u64,
    round: usize,
    mut floor: F,
) where
    S: EventStore + Clone,
    F: FnMut(Side) -> Fut,
    Fut: std::future::Future<Output = Balances>,
{
    let mut sides = vec![Side::Annals, Side::Floor];
    if figures.envelope.is_some() {
        sides.push(Side::Envelope);
    }
    let turn = round % sides.len();
    sides.rotate_left(turn);
    let mut models = Vec::new();
    for side in sides {
        if options.only.is_some_and(|only| only != side) {
            continue;
        }
        if side == Side::Annals {
            for &batch_size in &options.batch_sizes {
                let (took, model) = annals_catch_up(store, batch_size, last).await;
                figures.keep(side, batch_size, took);
                models.push(model);
            }
        } else {
            let start = Instant::now();
            let model = std::hint::black_box(floor(side).await);
            figures.keep(side, PAGE, start.elapsed());
            models.push(model);
        }
    }
    for model in &models {
        assert_eq!(model.by_account.len(), ACCOUNTS);
        assert_eq!(model, &models[0], "every reader built the same read model");
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
    let mut figures = Figures::new("memory", &options.batch_sizes, false);
    for r in 0..options.rounds {
        round(&mut figures, options, &store, last, r, |_| {
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
    let mut figures = Figures::new("SQLite", &options.batch_sizes, true);
    for r in 0..options.rounds {
        round(&mut figures, options, &store, last, r, |side| {
            let model = match side {
                Side::Envelope => sqlite_floor::envelope(&raw),
                _ => sqlite_floor::needed(&raw),
            };
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
    let needed = raw
        .prepare(&postgres_floor::needed_sql())
        .await
        .expect("prepare");
    let envelope = raw
        .prepare(&postgres_floor::envelope_sql())
        .await
        .expect("prepare");
    let mut figures = Figures::new("PostgreSQL", &options.batch_sizes, true);
    for r in 0..options.rounds {
        round(&mut figures, options, &store, last, r, |side| {
            let (raw, needed, envelope) = (&raw, &needed, &envelope);
            async move {
                match side {
                    Side::Envelope => postgres_floor::envelope(raw, envelope).await,
                    _ => postgres_floor::needed(raw, needed).await,
                }
            }
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
    let rate = |took: Duration| {
        if took == Duration::MAX {
            "-".to_owned()
        } else {
            format!("{:.0}", per_second(took))
        }
    };
    let ratio = |annals: Duration, floor: Duration| {
        if annals == Duration::MAX || floor == Duration::MAX {
            "-".to_owned()
        } else {
            format!("{:.2}×", floor.as_secs_f64() / annals.as_secs_f64())
        }
    };
    for &(batch_size, took) in &figures.annals {
        let verdict = match (took, figures.floor) {
            (Duration::MAX, _) | (_, Duration::MAX) => "",
            _ if figures.floor.as_secs_f64() / took.as_secs_f64() >= TARGET => "met",
            _ => "MISSED",
        };
        let envelope = figures
            .envelope
            .map_or(("n/a".to_owned(), "n/a".to_owned()), |e| {
                (rate(e), ratio(took, e))
            });
        println!(
            "  {:<11} {:>6} {:>12} {:>12} {:>7}  ≥ {TARGET:.2}× {verdict:<6} {:>12} {:>8}",
            figures.store,
            batch_size,
            rate(took),
            rate(figures.floor),
            ratio(took, figures.floor),
            envelope.0,
            envelope.1,
        );
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let options = Options::from_args();
    println!(
        "annals projection catch-up of {EVENTS} events vs a raw keyset-paged read + decode \
         (pages of {PAGE}); best of {} rounds, annals and the floors alternating; \
         ratio = annals events/s / floor events/s; envelope = the diagnostic floor that \
         reads every column annals reads",
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
        "\n  {:<11} {:>6} {:>12} {:>12} {:>7}  {:<13} {:>12} {:>8}",
        "store", "batch", "annals ev/s", "floor ev/s", "ratio", "target", "envelope", "ratio"
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
