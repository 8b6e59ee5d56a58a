//! Commands under projection load on PostgreSQL: do the store's projection workers starve
//! the command path? (issue: trust under faults, pool starvation.)
//!
//! `cargo bench --bench command_pool` (add `-- --quick` for shorter rounds, `--projections N`
//! to change the load). One store with the default pool (16 connections); 16 tasks run
//! deposits on accounts of their own for a few seconds, with no projection running, then
//! with `N` (200) in-memory projections tailing the log on the same store. The floor is the
//! raw driver doing each command's write (one INSERT per command, the state kept in memory)
//! from 16 connections, in the same run. Read the ratios: this machine is shared and noisy.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use annals::projection::{ProjectionRunner, RunnerOptions};
use annals::store::{EventStore, PostgresOptions, PostgresStore};
use annals::{Project, Projection, Recorded, Repository};
use annals_examples::bank::{Account, AccountEvent, Deposit, Deposited, Open};

const TASKS: usize = 16;

/// Deposits counted in memory: the cheapest projection, so the figure is the runner's cost.
#[derive(Projection, Default, Clone)]
#[projection(name = "deposit_count", events(AccountEvent::{Deposited}))]
struct DepositCount {
    deposits: u64,
}

impl Project<Deposited> for DepositCount {
    fn project(&mut self, _: Recorded<'_, Deposited>) {
        self.deposits += 1;
    }
}

struct Round {
    commands: usize,
    took: Duration,
    latencies: Vec<Duration>,
}

impl Round {
    fn per_second(&self) -> f64 {
        self.commands as f64 / self.took.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        sorted[((sorted.len() - 1) as f64 * p) as usize]
    }
}

fn url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

async fn raw_pg() -> Option<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(&url(), tokio_postgres::NoTls)
        .await
        .ok()?;
    tokio::spawn(connection);
    Some(client)
}

async fn fresh_store(schema: &str) -> Option<PostgresStore> {
    raw_pg()
        .await?
        .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .await
        .ok()?;
    PostgresStore::connect_with(PostgresOptions::new(url()).with_schema(schema))
        .await
        .ok()
}

/// 16 tasks running deposits for `length`, each on its own account.
async fn annals_round(store: &PostgresStore, length: Duration) -> Round {
    let accounts = Repository::<Account, _>::new(store.clone()).with_cache(TASKS);
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let (accounts, stop) = (accounts.clone(), Arc::clone(&stop));
            tokio::spawn(async move {
                let account = format!("pool-{task}-{}", uuid_tail());
                accounts
                    .execute(Open {
                        account: account.clone(),
                        owner: "Ada".into(),
                    })
                    .await
                    .unwrap();
                let mut latencies = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let began = Instant::now();
                    let deposit = Deposit {
                        account: account.clone(),
                        amount: 1,
                        reference: String::new(),
                    };
                    accounts.execute(deposit).await.unwrap();
                    latencies.push(began.elapsed());
                }
                latencies
            })
        })
        .collect();
    tokio::time::sleep(length).await;
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    Round {
        commands: latencies.len(),
        took: start.elapsed(),
        latencies,
    }
}

/// The floor: 16 raw connections, each inserting one event per command into a table of
/// the events table's shape (the state kept in memory, as a cached aggregate's is).
async fn floor_round(schema: &str, length: Duration) -> Option<Round> {
    let setup = raw_pg().await?;
    setup
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE; CREATE SCHEMA \"{schema}\";
             CREATE TABLE \"{schema}\".events (
                position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                stream_id text NOT NULL, stream_version bigint NOT NULL, event_id uuid NOT NULL,
                event_type text NOT NULL, schema_version integer NOT NULL, payload jsonb NOT NULL,
                recorded_at timestamptz NOT NULL DEFAULT now(),
                UNIQUE (stream_id, stream_version));
             CREATE UNIQUE INDEX ON \"{schema}\".events (event_id);"
        ))
        .await
        .ok()?;
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let client = raw_pg().await?;
        let stop = Arc::clone(&stop);
        let insert = format!(
            "INSERT INTO \"{schema}\".events (stream_id, stream_version, event_id, event_type, schema_version, payload)
             VALUES ($1, $2, gen_random_uuid(), 'Deposited', 2, $3::text::jsonb)"
        );
        tasks.push(tokio::spawn(async move {
            let insert = client.prepare(&insert).await.unwrap();
            let stream = format!("account-floor-{task}");
            let mut latencies = Vec::new();
            let mut version: i64 = 0;
            while !stop.load(Ordering::Relaxed) {
                let began = Instant::now();
                version += 1;
                let payload = r#"{"amount":1,"reference":""}"#;
                client
                    .execute(&insert, &[&stream, &version, &payload])
                    .await
                    .unwrap();
                latencies.push(began.elapsed());
            }
            latencies
        }));
    }
    tokio::time::sleep(length).await;
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    Some(Round {
        commands: latencies.len(),
        took: start.elapsed(),
        latencies,
    })
}

fn uuid_tail() -> String {
    annals::Uuid::now_v7().simple().to_string()[20..].to_owned()
}

fn print(label: &str, round: &Round, floor: &Round) {
    println!(
        "  {label:<28} {:>8.0} cmd/s  p50 {:>7.2} ms  p99 {:>7.2} ms  {:>5.2}× floor",
        round.per_second(),
        round.percentile(0.5).as_secs_f64() * 1e3,
        round.percentile(0.99).as_secs_f64() * 1e3,
        round.per_second() / floor.per_second(),
    );
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let projections = args
        .iter()
        .position(|a| a == "--projections")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(200);
    let length = Duration::from_secs(if quick { 2 } else { 5 });

    let Some(floor) = floor_round("bench_pool_floor", length).await else {
        println!("PostgreSQL unreachable: skipped");
        return;
    };
    let Some(store) = fresh_store("bench_pool").await else {
        println!("PostgreSQL unreachable: skipped");
        return;
    };
    let alone = annals_round(&store, length).await;

    let runner = ProjectionRunner::new(store.clone()).with_options(RunnerOptions::default());
    let handles: Vec<_> = (0..projections)
        .map(|_| runner.spawn(DepositCount::default()))
        .collect();
    let head = store.head_position().await.unwrap();
    for handle in &handles {
        handle
            .wait_for(head, Duration::from_secs(60))
            .await
            .unwrap();
    }
    let loaded = annals_round(&store, length).await;
    // How far the projections got: they must keep up, not just stay out of the way.
    let head = store.head_position().await.unwrap();
    let lag_start = Instant::now();
    for handle in &handles {
        handle
            .wait_for(head, Duration::from_secs(120))
            .await
            .unwrap();
    }
    let catch_up = lag_start.elapsed();
    for handle in handles {
        handle.stop().await;
    }

    println!("\ncommands on PostgreSQL, 16 tasks, pool of 16 ({length:?} per round)");
    print("raw driver (floor)", &floor, &floor);
    print("annals, no projections", &alone, &floor);
    print(
        &format!("annals, {projections} projections"),
        &loaded,
        &floor,
    );
    println!(
        "  with {projections} projections: {:.2}× the commands/s without; all caught up {:.0} ms after the round",
        loaded.per_second() / alone.per_second(),
        catch_up.as_secs_f64() * 1e3
    );
}
