//! Saga steps per second beside the floor from the same run (issue: sagas, figure 1).
//!
//! `cargo bench --bench sagas` (`-- --quick` for a shorter run; `-- --postgres` for
//! PostgreSQL at `DATABASE_URL`, SQLite otherwise).
//!
//! Workload: `N` payments, each three commands on three accounts of the bank (take the
//! amount from the payer, give it to the payee, give a fee to the bank's fee account);
//! every payment has accounts of its own, so no command conflicts. Both sides run 16 at a
//! time on a fresh store.
//!
//! - **annals**: a saga, started by a `PaymentRequested` event per payment (recorded before
//!   the clock starts), plans the three steps; a `SagaRunner` with 16 workers reads the
//!   events, records each instance's reaction and results, and sends each command once
//!   under its step's key (`execute_once`). Timed from the runner's start until it has
//!   handled the last event (every plan run to its end).
//! - **floor**: the same three commands executed directly through the repositories
//!   (`Repository::execute`), 16 payments at a time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use annals::saga::{
    Plan, React, SagaOptions, SagaRunner, StepContext, StepError, StepOutput, Steps,
};
use annals::store::{
    CheckpointStore, EventStore, ExpectedVersion, Metadata, PostgresOptions, PostgresStore,
    SagaStore, SnapshotStore, SqliteStore,
};
use annals::{CommandDispatcher, Event, Recorded, Repository};
use annals_examples::bank::{Account, Deposit, Open, Withdraw};
use serde::{Deserialize, Serialize};

const CONCURRENCY: usize = 16;

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct PaymentRequested {
    payment: String,
}

#[derive(Event, Clone, Debug, PartialEq)]
enum PaymentEvent {
    Requested(PaymentRequested),
}

#[derive(annals::saga::Saga, Default, Serialize, Deserialize)]
#[saga(starts(PaymentEvent), id = payment)]
struct Payment {
    payment: String,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
enum PaymentStep {
    Take(String),
    Give(String),
    Fee(String),
}

impl React<PaymentRequested> for Payment {
    fn react(&mut self, event: Recorded<'_, PaymentRequested>, plan: &mut Plan<PaymentStep>) {
        self.payment = event.payment.clone();
        plan.step(PaymentStep::Take(self.payment.clone()))
            .compensated_by(PaymentStep::Give(format!("payer-{}", self.payment)));
        plan.step(PaymentStep::Give(self.payment.clone()));
        plan.step(PaymentStep::Fee(self.payment.clone()));
        plan.complete();
    }
}

fn take(payment: &str) -> Withdraw {
    Withdraw {
        account: format!("payer-{payment}"),
        amount: 10,
    }
}

fn give(payment: &str) -> Deposit {
    Deposit {
        account: format!("payee-{payment}"),
        amount: 9,
        reference: payment.to_owned(),
    }
}

fn fee(payment: &str) -> Deposit {
    Deposit {
        account: format!("fees-{payment}"),
        amount: 1,
        reference: payment.to_owned(),
    }
}

#[annals::async_trait]
impl Steps for Payment {
    type Step = PaymentStep;
    type Services = ();

    async fn perform(
        step: &PaymentStep,
        context: &StepContext<'_, ()>,
    ) -> Result<StepOutput, StepError> {
        match step {
            PaymentStep::Take(payment) => context.execute(take(payment)).await,
            PaymentStep::Give(payment) => context.execute(give(payment)).await,
            PaymentStep::Fee(payment) => context.execute(fee(payment)).await,
        }
    }
}

/// Opens and funds the three accounts of each payment.
async fn open_accounts<St: EventStore + SnapshotStore + Clone>(store: &St, payments: usize) {
    let accounts = Repository::<Account, _>::new(store.clone());
    for n in 0..payments {
        for role in ["payer", "payee", "fees"] {
            let account = format!("{role}-p{n}");
            accounts
                .execute(Open {
                    account: account.clone(),
                    owner: "bench".into(),
                })
                .await
                .unwrap();
        }
        accounts
            .execute(Deposit {
                account: format!("payer-p{n}"),
                amount: 100,
                reference: "opening".into(),
            })
            .await
            .unwrap();
    }
}

async fn floor<St: EventStore + SnapshotStore + Clone>(store: St, payments: usize) -> Duration {
    open_accounts(&store, payments).await;
    let accounts = Arc::new(Repository::<Account, _>::new(store));
    let started = Instant::now();
    let tasks: Vec<_> = (0..CONCURRENCY)
        .map(|task| {
            let accounts = accounts.clone();
            tokio::spawn(async move {
                for n in (task..payments).step_by(CONCURRENCY) {
                    let payment = format!("p{n}");
                    accounts.execute(take(&payment)).await.unwrap();
                    accounts.execute(give(&payment)).await.unwrap();
                    accounts.execute(fee(&payment)).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    started.elapsed()
}

async fn saga<St>(store: St, payments: usize) -> Duration
where
    St: EventStore + SnapshotStore + CheckpointStore + SagaStore + Clone,
{
    open_accounts(&store, payments).await;
    let mut last = 0;
    for n in 0..payments {
        let event = PaymentEvent::from(PaymentRequested {
            payment: format!("p{n}"),
        });
        last = store
            .append(
                &format!("payment-p{n}"),
                ExpectedVersion::NoStream,
                vec![event.to_new_event(Metadata::default()).unwrap()],
            )
            .await
            .unwrap()
            .last_position();
    }
    let commands =
        CommandDispatcher::new().with_repository(Repository::<Account, _>::new(store.clone()));
    let started = Instant::now();
    let runner = SagaRunner::<Payment, _>::new(store.clone(), commands, ())
        .with_options(SagaOptions::default().with_workers(CONCURRENCY))
        .spawn();
    runner
        .wait_for(last, Duration::from_secs(600))
        .await
        .expect("every payment handled");
    let took = started.elapsed();
    let sample = runner.sagas().load("p0").await.unwrap().unwrap();
    assert!(sample.status.is_finished(), "{:?}", sample.status);
    runner.stop().await;
    took
}

fn scratch() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("annals-bench-sagas-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("{}.sqlite", annals::Uuid::now_v7().simple()))
}

async fn postgres(round: usize, side: &str) -> PostgresStore {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let schema = format!("bench_sagas_{}_{round}_{side}", std::process::id());
    PostgresStore::connect_with(PostgresOptions::new(url).with_schema(schema))
        .await
        .expect("PostgreSQL at DATABASE_URL")
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let on_postgres = args.iter().any(|a| a == "--postgres");
    let payments = if quick { 300 } else { 2_000 };
    let rounds = if quick { 2 } else { 3 };
    let store_name = if on_postgres { "PostgreSQL" } else { "SQLite" };
    println!(
        "saga steps/s on {store_name}: {payments} payments of 3 steps, {CONCURRENCY} at a time, {rounds} rounds"
    );
    let steps = (3 * payments) as f64;
    for round in 0..rounds {
        let (floor_took, saga_took) = if on_postgres {
            (
                floor(postgres(round, "floor").await, payments).await,
                saga(postgres(round, "saga").await, payments).await,
            )
        } else {
            (
                floor(SqliteStore::open(scratch()).unwrap(), payments).await,
                saga(SqliteStore::open(scratch()).unwrap(), payments).await,
            )
        };
        let (floor_rate, saga_rate) = (
            steps / floor_took.as_secs_f64(),
            steps / saga_took.as_secs_f64(),
        );
        println!(
            "round {round}: floor {floor_rate:>8.0} commands/s   annals {saga_rate:>8.0} saga steps/s   ratio {:.2}",
            saga_rate / floor_rate
        );
    }
}
