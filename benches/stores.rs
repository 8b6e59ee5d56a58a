//! The durable stores against their raw drivers, in one run (issue: durable stores).
//!
//! `cargo bench --bench stores` (add `-- --quick` for one repetition). Each workload runs on
//! annals and on a floor: the raw driver (rusqlite, tokio-postgres) doing the same inserts
//! or selects into a table of the same shape. Each figure is the best of a few repetitions;
//! the ratio compares annals with the floor measured in the same run, which is what to read
//! on a shared, noisy machine.
//!
//! - seq: 100 accounts × (open + 20 deposits), one command at a time; annals runs the
//!   command path with its aggregate cache; the floor is one raw INSERT per command with the
//!   state kept in memory.
//! - conc: 16 tasks × 25 accounts × 21 commands, the same way.
//! - hydrate: load a 10,000-event stream with no cache and no snapshot; the floor is a raw
//!   SELECT of the same rows and the serde decode of each payload into the same structs.
//! - batch: one append of 1,000 events; the floor is one raw multi-row INSERT.

use std::sync::Arc;
use std::time::{Duration, Instant};

use annals::store::SqliteStore;
use annals::store::{EventStore, ExpectedVersion, Metadata, NewEvent, SnapshotStore};
use annals::store::{PostgresOptions, PostgresStore};
use annals::{Event, Repository};
use annals_examples::bank::{Account, AccountEvent, Deposit, Deposited, Open, Opened};

const ACCOUNTS: usize = 100;
const DEPOSITS: usize = 20;
const TASKS: usize = 16;
const ACCOUNTS_PER_TASK: usize = 25;
const HYDRATE_EVENTS: usize = 10_000;
const BATCH_EVENTS: usize = 1_000;

struct Figure {
    workload: &'static str,
    unit: &'static str,
    annals: f64,
    floor: f64,
    /// Whether bigger is better (throughput) or smaller (time).
    higher_is_better: bool,
}

impl Figure {
    fn ratio(&self) -> f64 {
        self.annals / self.floor
    }
}

fn print(store: &str, figures: &[Figure]) {
    println!("\n{store}");
    println!(
        "  {:<9} {:>16} {:>16} {:>8}  target",
        "workload", "annals", "floor", "ratio"
    );
    for f in figures {
        let target = match (f.workload, f.higher_is_better) {
            ("seq" | "conc", _) => "≥ 0.80×",
            ("hydrate", _) => "≤ 1.30×",
            _ => "",
        };
        println!(
            "  {:<9} {:>10.1} {:<5} {:>10.1} {:<5} {:>7.2}×  {target}",
            f.workload,
            f.annals,
            f.unit,
            f.floor,
            f.unit,
            f.ratio()
        );
    }
}

/// The best (shortest) of `reps` timings of `run`.
async fn best<F, Fut>(reps: usize, mut run: F) -> Duration
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut best = Duration::MAX;
    for rep in 0..reps {
        let start = Instant::now();
        run(rep).await;
        best = best.min(start.elapsed());
    }
    best
}

fn per_second(count: usize, took: Duration) -> f64 {
    count as f64 / took.as_secs_f64()
}

fn encoded(event: &AccountEvent) -> NewEvent {
    let e = event.encode().expect("bank events encode");
    NewEvent::new(
        e.event_type,
        e.schema_version,
        e.payload,
        Metadata::default(),
    )
}

fn open_event() -> AccountEvent {
    Opened {
        owner: "Bench".into(),
    }
    .into()
}

fn deposit_event(n: usize) -> AccountEvent {
    Deposited {
        amount: n as i64 + 1,
        reference: "bench".into(),
    }
    .into()
}

/// The floor's own fold: what a hand-written program does with the raw rows.
fn fold_raw(balance: &mut i64, event_type: &str, payload: &[u8]) {
    match event_type {
        "Deposited" => {
            *balance += serde_json::from_slice::<Deposited>(payload)
                .expect("payload")
                .amount
        }
        "Opened" => drop(serde_json::from_slice::<Opened>(payload).expect("payload")),
        other => panic!("unexpected {other}"),
    }
}

// ------------------------------------------------------------------------------------------
// annals side, generic over the store
// ------------------------------------------------------------------------------------------

async fn annals_account<S: EventStore + SnapshotStore>(
    accounts: &Repository<Account, S>,
    id: &str,
) {
    accounts
        .execute(Open {
            account: id.to_owned(),
            owner: "Bench".into(),
        })
        .await
        .expect("open");
    for n in 0..DEPOSITS {
        accounts
            .execute(Deposit {
                account: id.to_owned(),
                amount: n as i64 + 1,
                reference: "bench".into(),
            })
            .await
            .expect("deposit");
    }
}

async fn annals_seq<S: EventStore + SnapshotStore>(store: S, rep: usize) {
    let accounts = Repository::<Account, _>::new(store).with_cache(1024);
    for a in 0..ACCOUNTS {
        annals_account(&accounts, &format!("seq-{rep}-{a}")).await;
    }
}

async fn annals_conc<S: EventStore + SnapshotStore + Clone>(store: S, rep: usize) {
    let accounts = Repository::<Account, _>::new(store).with_cache(1024);
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let accounts = accounts.clone();
            tokio::spawn(async move {
                for a in 0..ACCOUNTS_PER_TASK {
                    annals_account(&accounts, &format!("conc-{rep}-{t}-{a}")).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task");
    }
}

async fn annals_hydrate<S: EventStore + SnapshotStore>(store: S) {
    let accounts = Repository::<Account, _>::new(store).with_read_batch(HYDRATE_EVENTS);
    let loaded = accounts.load_from_events("hydrate").await.expect("load");
    assert_eq!(loaded.version, HYDRATE_EVENTS as u64);
}

async fn fill_hydrate_stream<S: EventStore>(store: &S) {
    let mut events = vec![encoded(&open_event())];
    events.extend((1..HYDRATE_EVENTS).map(|n| encoded(&deposit_event(n))));
    for chunk in events.chunks(BATCH_EVENTS) {
        store
            .append("account-hydrate", ExpectedVersion::Any, chunk.to_vec())
            .await
            .expect("fill");
    }
}

fn batch_events() -> Vec<NewEvent> {
    (0..BATCH_EVENTS)
        .map(|n| encoded(&deposit_event(n)))
        .collect()
}

// ------------------------------------------------------------------------------------------
// SQLite
// ------------------------------------------------------------------------------------------

mod sqlite_floor {
    use super::*;
    use rusqlite::{Connection, params};

    /// The row the command path writes on SQLite: correlation and causation ids in their
    /// columns, no metadata JSON (no user key/values).
    pub const INSERT: &str = "INSERT INTO annals_events (stream_id, stream_version, event_id, event_type, schema_version, payload, recorded_at, correlation_id, causation_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)";

    pub fn insert(connection: &Connection, stream: &str, version: u64, event: &NewEvent) {
        connection
            .prepare_cached(INSERT)
            .unwrap()
            .execute(params![
                stream,
                version as i64,
                event.event_id.as_bytes(),
                event.event_type,
                event.schema_version,
                event.payload,
                chrono::Utc::now().timestamp_micros(),
                event.event_id.as_bytes(),
            ])
            .unwrap();
    }

    /// One account: the state (its version) kept in memory, one INSERT per command.
    pub fn account(connection: &Connection, stream: &str) {
        insert(connection, stream, 1, &encoded(&open_event()));
        for n in 0..DEPOSITS {
            insert(
                connection,
                stream,
                n as u64 + 2,
                &encoded(&deposit_event(n)),
            );
        }
    }

    /// One account on a connection shared by tasks: the lock is taken per command, as each
    /// command of the annals side takes the store's writer lock.
    pub fn account_shared(connection: &std::sync::Mutex<Connection>, stream: &str) {
        let lock = || connection.lock().unwrap();
        insert(&lock(), stream, 1, &encoded(&open_event()));
        for n in 0..DEPOSITS {
            insert(&lock(), stream, n as u64 + 2, &encoded(&deposit_event(n)));
        }
    }

    pub fn hydrate(connection: &Connection) -> i64 {
        let mut statement = connection
            .prepare_cached(
                "SELECT event_type, payload FROM annals_events WHERE stream_id = ?1 ORDER BY stream_version",
            )
            .unwrap();
        let mut rows = statement.query(["account-hydrate"]).unwrap();
        let mut balance = 0;
        while let Some(row) = rows.next().unwrap() {
            let event_type: String = row.get(0).unwrap();
            let payload: Vec<u8> = row.get(1).unwrap();
            fold_raw(&mut balance, &event_type, &payload);
        }
        balance
    }

    pub fn batch(connection: &mut Connection, stream: &str, events: &[NewEvent]) {
        let tx = connection.transaction().unwrap();
        for (i, event) in events.iter().enumerate() {
            insert(&tx, stream, i as u64 + 1, event);
        }
        tx.commit().unwrap();
    }
}

fn open_sqlite(dir: &std::path::Path, name: &str) -> SqliteStore {
    let path = dir.join(format!("{name}.sqlite"));
    let _ = std::fs::remove_file(&path);
    SqliteStore::open(&path).expect("open SQLite")
}

/// A raw connection on a fresh file with the store's schema, WAL and `synchronous = NORMAL`.
fn raw_sqlite(dir: &std::path::Path, name: &str) -> rusqlite::Connection {
    let store = open_sqlite(dir, name);
    let connection = rusqlite::Connection::open(store.path()).unwrap();
    connection
        .pragma_update(None, "journal_mode", "WAL")
        .unwrap();
    connection
        .pragma_update(None, "synchronous", "NORMAL")
        .unwrap();
    connection
}

async fn bench_sqlite(reps: usize) -> Vec<Figure> {
    let dir = std::env::temp_dir().join(format!("annals-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let commands = ACCOUNTS * (DEPOSITS + 1);
    let conc_commands = TASKS * ACCOUNTS_PER_TASK * (DEPOSITS + 1);
    let mut figures = Vec::new();

    let store = open_sqlite(&dir, "seq");
    let annals = best(reps, |rep| annals_seq(store.clone(), rep)).await;
    let raw = raw_sqlite(&dir, "seq-floor");
    let floor = best(reps, |rep| {
        for a in 0..ACCOUNTS {
            sqlite_floor::account(&raw, &format!("seq-{rep}-{a}"));
        }
        async {}
    })
    .await;
    figures.push(Figure {
        workload: "seq",
        unit: "cmd/s",
        annals: per_second(commands, annals),
        floor: per_second(commands, floor),
        higher_is_better: true,
    });

    let store = open_sqlite(&dir, "conc");
    let annals = best(reps, |rep| annals_conc(store.clone(), rep)).await;
    let raw = Arc::new(std::sync::Mutex::new(raw_sqlite(&dir, "conc-floor")));
    let floor = best(reps, |rep| {
        let raw = Arc::clone(&raw);
        async move {
            // SQLite has one writer: the raw floor is the same inserts from 16 tasks on one
            // connection.
            let tasks: Vec<_> = (0..TASKS)
                .map(|t| {
                    let raw = Arc::clone(&raw);
                    tokio::spawn(async move {
                        for a in 0..ACCOUNTS_PER_TASK {
                            sqlite_floor::account_shared(&raw, &format!("conc-{rep}-{t}-{a}"));
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
        }
    })
    .await;
    figures.push(Figure {
        workload: "conc",
        unit: "cmd/s",
        annals: per_second(conc_commands, annals),
        floor: per_second(conc_commands, floor),
        higher_is_better: true,
    });

    let store = open_sqlite(&dir, "hydrate");
    fill_hydrate_stream(&store).await;
    let annals = best(reps * 5, |_| annals_hydrate(store.clone())).await;
    let raw = rusqlite::Connection::open(store.path()).unwrap();
    let floor = best(reps * 5, |_| {
        std::hint::black_box(sqlite_floor::hydrate(&raw));
        async {}
    })
    .await;
    figures.push(Figure {
        workload: "hydrate",
        unit: "ms",
        annals: annals.as_secs_f64() * 1e3,
        floor: floor.as_secs_f64() * 1e3,
        higher_is_better: false,
    });

    let store = open_sqlite(&dir, "batch");
    // Fresh ids for each repetition: an event id is stored once.
    let batches: Vec<Vec<NewEvent>> = (0..reps * 5).map(|_| batch_events()).collect();
    let annals = best(reps * 5, |rep| {
        let (store, events) = (store.clone(), batches[rep].clone());
        async move {
            store
                .append(&format!("batch-{rep}"), ExpectedVersion::NoStream, events)
                .await
                .unwrap();
        }
    })
    .await;
    let mut raw = raw_sqlite(&dir, "batch-floor");
    let floor = best(reps * 5, |rep| {
        sqlite_floor::batch(&mut raw, &format!("batch-{rep}"), &batches[rep]);
        async {}
    })
    .await;
    figures.push(Figure {
        workload: "batch",
        unit: "ms",
        annals: annals.as_secs_f64() * 1e3,
        floor: floor.as_secs_f64() * 1e3,
        higher_is_better: false,
    });
    let _ = std::fs::remove_dir_all(&dir);
    figures
}

// ------------------------------------------------------------------------------------------
// PostgreSQL
// ------------------------------------------------------------------------------------------

mod postgres_floor {
    use super::*;
    use tokio_postgres::Client;

    pub fn insert_sql(schema: &str) -> String {
        format!(
            "INSERT INTO \"{schema}\".events (stream_id, stream_version, event_id, event_type, schema_version, payload, correlation_id, causation_id)
             VALUES ($1, $2, $3, $4, $5, $6::text::jsonb, $7, $7)"
        )
    }

    pub async fn account(client: &Client, statement: &tokio_postgres::Statement, stream: &str) {
        // The row the command path writes on PostgreSQL: correlation and causation ids in
        // their uuid columns, no metadata jsonb (no user key/values).
        let exec = |version: u64, event: NewEvent| async move {
            let payload = String::from_utf8(event.payload).unwrap();
            client
                .execute(
                    statement,
                    &[
                        &stream,
                        &(version as i64),
                        &event.event_id,
                        &event.event_type,
                        &(event.schema_version as i32),
                        &payload,
                        &event.event_id,
                    ],
                )
                .await
                .unwrap();
        };
        exec(1, encoded(&open_event())).await;
        for n in 0..DEPOSITS {
            exec(n as u64 + 2, encoded(&deposit_event(n))).await;
        }
    }

    pub async fn hydrate(client: &Client, schema: &str) -> i64 {
        let rows = client
            .query(
                &format!(
                    "SELECT event_type, payload::text FROM \"{schema}\".events WHERE stream_id = $1 ORDER BY stream_version"
                ),
                &[&"account-hydrate"],
            )
            .await
            .unwrap();
        let mut balance = 0;
        for row in &rows {
            let event_type: &str = row.get(0);
            let payload: &str = row.get(1);
            fold_raw(&mut balance, event_type, payload.as_bytes());
        }
        balance
    }

    /// One multi-row INSERT of `events` (7 parameters a row).
    pub async fn batch(client: &Client, schema: &str, stream: &str, events: &[NewEvent]) {
        let mut sql = format!(
            "INSERT INTO \"{schema}\".events (stream_id, stream_version, event_id, event_type, schema_version, payload) VALUES "
        );
        let versions: Vec<i64> = (1..=events.len() as i64).collect();
        let schema_versions: Vec<i32> = events.iter().map(|e| e.schema_version as i32).collect();
        let payloads: Vec<&str> = events
            .iter()
            .map(|e| std::str::from_utf8(&e.payload).unwrap())
            .collect();
        let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = Vec::new();
        for (i, event) in events.iter().enumerate() {
            let base = i * 6;
            if i > 0 {
                sql.push(',');
            }
            sql.push_str(&format!(
                "(${}, ${}, ${}, ${}, ${}, ${}::text::jsonb)",
                base + 1,
                base + 2,
                base + 3,
                base + 4,
                base + 5,
                base + 6
            ));
            params.push(&stream);
            params.push(&versions[i]);
            params.push(&event.event_id);
            params.push(&event.event_type);
            params.push(&schema_versions[i]);
            params.push(&payloads[i]);
        }
        client.execute(sql.as_str(), &params).await.unwrap();
    }
}

async fn pg_store(schema: &str, pool: usize) -> Option<PostgresStore> {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let client = raw_pg().await?;
    client
        .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .await
        .unwrap();
    PostgresStore::connect_with(
        PostgresOptions::new(url)
            .with_schema(schema)
            .with_pool_size(pool),
    )
    .await
    .ok()
}

async fn raw_pg() -> Option<tokio_postgres::Client> {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .ok()?;
    tokio::spawn(connection);
    Some(client)
}

async fn bench_postgres(reps: usize) -> Option<Vec<Figure>> {
    let commands = ACCOUNTS * (DEPOSITS + 1);
    let conc_commands = TASKS * ACCOUNTS_PER_TASK * (DEPOSITS + 1);
    let mut figures = Vec::new();

    let store = pg_store("bench_seq", 4).await?;
    let annals = best(reps, |rep| annals_seq(store.clone(), rep)).await;
    let floor_store = pg_store("bench_seq_floor", 1).await?;
    let raw = raw_pg().await?;
    let insert = raw
        .prepare(&postgres_floor::insert_sql(floor_store.schema()))
        .await
        .ok()?;
    let floor = best(reps, |rep| {
        let (raw, insert) = (&raw, &insert);
        async move {
            for a in 0..ACCOUNTS {
                postgres_floor::account(raw, insert, &format!("seq-{rep}-{a}")).await;
            }
        }
    })
    .await;
    figures.push(Figure {
        workload: "seq",
        unit: "cmd/s",
        annals: per_second(commands, annals),
        floor: per_second(commands, floor),
        higher_is_better: true,
    });

    let store = pg_store("bench_conc", TASKS).await?;
    let annals = best(reps, |rep| annals_conc(store.clone(), rep)).await;
    let floor_store = pg_store("bench_conc_floor", 1).await?;
    let mut clients = Vec::new();
    for _ in 0..TASKS {
        let client = raw_pg().await?;
        let insert = client
            .prepare(&postgres_floor::insert_sql(floor_store.schema()))
            .await
            .ok()?;
        clients.push(Arc::new((client, insert)));
    }
    let floor = best(reps, |rep| {
        let clients = clients.clone();
        async move {
            let tasks: Vec<_> = clients
                .into_iter()
                .enumerate()
                .map(|(t, client)| {
                    tokio::spawn(async move {
                        for a in 0..ACCOUNTS_PER_TASK {
                            postgres_floor::account(
                                &client.0,
                                &client.1,
                                &format!("conc-{rep}-{t}-{a}"),
                            )
                            .await;
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
        }
    })
    .await;
    figures.push(Figure {
        workload: "conc",
        unit: "cmd/s",
        annals: per_second(conc_commands, annals),
        floor: per_second(conc_commands, floor),
        higher_is_better: true,
    });

    let store = pg_store("bench_hydrate", 2).await?;
    fill_hydrate_stream(&store).await;
    let annals = best(reps * 5, |_| annals_hydrate(store.clone())).await;
    let floor = best(reps * 5, |_| {
        let raw = &raw;
        async move {
            std::hint::black_box(postgres_floor::hydrate(raw, "bench_hydrate").await);
        }
    })
    .await;
    figures.push(Figure {
        workload: "hydrate",
        unit: "ms",
        annals: annals.as_secs_f64() * 1e3,
        floor: floor.as_secs_f64() * 1e3,
        higher_is_better: false,
    });

    let store = pg_store("bench_batch", 2).await?;
    // Fresh ids for each repetition: an event id is stored once.
    let batches: Vec<Vec<NewEvent>> = (0..reps * 5).map(|_| batch_events()).collect();
    let annals = best(reps * 5, |rep| {
        let (store, events) = (store.clone(), batches[rep].clone());
        async move {
            store
                .append(&format!("batch-{rep}"), ExpectedVersion::NoStream, events)
                .await
                .unwrap();
        }
    })
    .await;
    let floor_store = pg_store("bench_batch_floor", 1).await?;
    let floor = best(reps * 5, |rep| {
        let (raw, events, schema) = (&raw, &batches[rep], floor_store.schema().to_owned());
        async move {
            postgres_floor::batch(raw, &schema, &format!("batch-{rep}"), events).await;
        }
    })
    .await;
    figures.push(Figure {
        workload: "batch",
        unit: "ms",
        annals: annals.as_secs_f64() * 1e3,
        floor: floor.as_secs_f64() * 1e3,
        higher_is_better: false,
    });
    for schema in [
        "bench_seq",
        "bench_seq_floor",
        "bench_conc",
        "bench_conc_floor",
        "bench_hydrate",
        "bench_batch",
        "bench_batch_floor",
    ] {
        raw.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
            .await
            .unwrap();
    }
    Some(figures)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let rounds = if quick { 1 } else { 5 };
    println!(
        "annals durable stores vs their raw drivers (best of {rounds} rounds, annals and floor \
         alternating; ratio = annals / floor)"
    );
    let mut sqlite = Vec::new();
    let mut postgres: Option<Vec<Figure>> = None;
    let mut postgres_reachable = true;
    for _ in 0..rounds {
        merge(&mut sqlite, bench_sqlite(1).await);
        if postgres_reachable {
            match bench_postgres(1).await {
                Some(figures) => merge(postgres.get_or_insert_with(Vec::new), figures),
                None => postgres_reachable = false,
            }
        }
    }
    print("SQLite (WAL, synchronous = NORMAL)", &sqlite);
    match postgres {
        Some(figures) => print("PostgreSQL (127.0.0.1, synchronous_commit = on)", &figures),
        None => println!("\nPostgreSQL: SKIPPED, the server is unreachable (DATABASE_URL)"),
    }
}

/// Keeps the best annals figure and the best floor figure of each workload across rounds.
fn merge(best: &mut Vec<Figure>, round: Vec<Figure>) {
    if best.is_empty() {
        *best = round;
        return;
    }
    for (kept, new) in best.iter_mut().zip(round) {
        let better = |a: f64, b: f64| {
            if kept.higher_is_better {
                a.max(b)
            } else {
                a.min(b)
            }
        };
        kept.annals = better(kept.annals, new.annals);
        kept.floor = better(kept.floor, new.floor);
    }
}
