//! Money transfers by saga under faults, on SQLite and PostgreSQL: the runner's process
//! SIGKILLed at random points (between and inside steps and compensations, before and
//! after their results are recorded) while transfers are asked for, then a last runner
//! left to finish; and 1,000 sagas in flight on 16 workers. The end state is what an
//! uninterrupted run gives: every saga finished, none stuck, each account's balance what
//! the transfers make it, and no deposit made twice.

mod services;

use std::collections::HashMap;
use std::time::Duration;

use annals::saga::{SagaOptions, SagaRunner, SagaStatus, Sagas};
use annals::store::{
    CheckpointStore, EventFilter, EventStore, PostgresOptions, PostgresStore, SagaStore,
    SnapshotStore, SqliteStore,
};
use annals::{CommandDispatcher, Event, Repository};
use annals_examples::bank::{Account, AccountEvent, Close, Open};
use annals_examples::transfers::{MoneyTransfer, RequestTransfer, Transfer};

const ACCOUNTS: usize = 20;
const OPENING_BALANCE: i64 = 10_000;
const CLOSED: &str = "closed";

fn dispatcher<St>(store: &St) -> CommandDispatcher
where
    St: EventStore + SnapshotStore + Clone,
{
    CommandDispatcher::new()
        .with_repository(Repository::<Account, _>::new(store.clone()))
        .with_repository(Repository::<Transfer, _>::new(store.clone()))
}

fn runner_options(workers: usize) -> SagaOptions {
    SagaOptions::default()
        .with_workers(workers)
        .with_poll_interval(Duration::from_millis(20))
}

/// Opens the accounts (and a closed one), funded.
async fn open_accounts<St: EventStore + SnapshotStore + Clone>(store: &St) {
    let commands = dispatcher(store);
    for n in 0..ACCOUNTS {
        let account = format!("a{n}");
        commands
            .execute(Open {
                account: account.clone(),
                owner: "ada".into(),
            })
            .await
            .unwrap();
        commands
            .execute(annals_examples::bank::Deposit {
                account,
                amount: OPENING_BALANCE,
                reference: "opening".into(),
            })
            .await
            .unwrap();
    }
    commands
        .execute(Open {
            account: CLOSED.into(),
            owner: "bob".into(),
        })
        .await
        .unwrap();
    commands
        .execute(Close {
            account: CLOSED.into(),
        })
        .await
        .unwrap();
}

/// Transfer `n`: between two accounts, every tenth to the closed account (refunded).
fn transfer(n: usize) -> RequestTransfer {
    let from = format!("a{}", n % ACCOUNTS);
    let to = if n % 10 == 9 {
        CLOSED.to_owned()
    } else {
        format!("a{}", (n * 7 + 3) % ACCOUNTS)
    };
    let to = if to == from {
        format!("a{}", (n + 1) % ACCOUNTS)
    } else {
        to
    };
    RequestTransfer {
        transfer: format!("t{n}"),
        from,
        to,
        amount: 1 + (n % 10) as i64,
    }
}

/// Asks for transfers `range`; returns the position of the last request.
async fn request<St: EventStore + SnapshotStore + Clone>(
    store: &St,
    range: std::ops::Range<usize>,
) -> u64 {
    let commands = dispatcher(store);
    let mut last = 0;
    for n in range {
        let outcome = commands.execute(transfer(n)).await.unwrap();
        last = last.max(outcome.position.unwrap_or(0));
    }
    last
}

/// Waits until every transfer's saga is over: some wait out a retry's pause (a command
/// that kept conflicting with the other workers' on one account) after their input is
/// handled.
async fn wait_all_finished<St: EventStore + SagaStore>(
    sagas: &Sagas<MoneyTransfer, St>,
    transfers: usize,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    for n in 0..transfers {
        let id = format!("t{n}");
        loop {
            let view = sagas.load(&id).await.unwrap();
            if view.as_ref().is_some_and(|view| view.status.is_finished()) {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "transfer {n} did not finish: {view:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Every transfer's saga finished as an uninterrupted run finishes it, balances match, and
/// no deposit was made twice.
async fn assert_end_state<St>(store: &St, transfers: usize)
where
    St: EventStore + SagaStore + SnapshotStore + Clone,
{
    let sagas = Sagas::<MoneyTransfer, _>::new(store.clone());
    let mut expected: HashMap<String, i64> = (0..ACCOUNTS)
        .map(|n| (format!("a{n}"), OPENING_BALANCE))
        .collect();
    for n in 0..transfers {
        let request = transfer(n);
        let view = sagas
            .load(&request.transfer)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("transfer {n} never started"));
        if request.to == CLOSED {
            assert!(
                matches!(view.status, SagaStatus::Compensated { .. }),
                "transfer {n}: {:?}",
                view.status
            );
        } else {
            assert_eq!(view.status, SagaStatus::Completed, "transfer {n}");
            *expected.get_mut(&request.from).unwrap() -= request.amount;
            *expected.get_mut(&request.to).unwrap() += request.amount;
        }
    }
    assert!(sagas.stuck().await.unwrap().is_empty(), "none stuck");
    let accounts = Repository::<Account, _>::new(store.clone());
    let mut deposits: HashMap<String, u32> = HashMap::new();
    let events = store
        .read_all(0, usize::MAX, &EventFilter::events_of::<AccountEvent>())
        .await
        .unwrap();
    for recorded in &events {
        if let AccountEvent::Deposited(deposit) = AccountEvent::decode_recorded(recorded).unwrap() {
            *deposits
                .entry(format!("{} {}", recorded.stream_id, deposit.reference))
                .or_default() += 1;
        }
    }
    let doubled: Vec<_> = deposits
        .iter()
        .filter(|(reference, count)| **count > 1 && !reference.ends_with("opening"))
        .collect();
    assert!(doubled.is_empty(), "deposits made twice: {doubled:?}");
    for (account, balance) in expected {
        let loaded = accounts.load(&account).await.unwrap();
        assert_eq!(loaded.state.balance, balance, "account {account}");
    }
}

/// Run in a child process by the kill tests: runs the transfer saga on the store the
/// environment names until killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the child process of the saga kill tests"]
async fn saga_child() {
    if let Ok(path) = std::env::var("ANNALS_SAGA_SQLITE") {
        let store = SqliteStore::open(&path).unwrap();
        run_forever(store).await;
    } else if let Ok(schema) = std::env::var("ANNALS_SAGA_SCHEMA") {
        let options = PostgresOptions::new(services::database_url()).with_schema(schema);
        let store = PostgresStore::connect_with(options).await.unwrap();
        run_forever(store).await;
    }
}

async fn run_forever<St>(store: St)
where
    St: EventStore + CheckpointStore + SagaStore + SnapshotStore + Clone,
{
    let _runner = SagaRunner::<MoneyTransfer, _>::new(store.clone(), dispatcher(&store), ())
        .with_options(runner_options(16))
        .spawn();
    std::future::pending::<()>().await;
}

/// Kills 20 runners at random points while transfers are asked for, then finishes with a
/// last runner and checks the end state.
async fn killed_runners_leave_the_state_of_an_uninterrupted_run<St>(
    store: St,
    child_env: (&str, String),
) where
    St: EventStore + CheckpointStore + SagaStore + SnapshotStore + Clone,
{
    const TRANSFERS: usize = 300;
    open_accounts(&store).await;
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut last = 0;
            // Spread over the kills: about 5 s.
            for chunk in 0..TRANSFERS / 10 {
                last = request(&store, chunk * 10..chunk * 10 + 10).await;
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
            last
        })
    };
    let mut handled_after_kills = Vec::new();
    for _ in 0..20 {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--ignored", "--exact", "saga_child", "--test-threads=1"])
            .env(child_env.0, &child_env.1)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        tokio::time::sleep(services::jitter() + Duration::from_millis(150)).await;
        child.kill().unwrap();
        child.wait().unwrap();
        handled_after_kills.push(store.checkpoint("saga:money_transfer").await.unwrap());
    }
    let last = writer.await.unwrap();
    eprintln!("checkpoints after each kill: {handled_after_kills:?}; last request at {last}");
    assert!(
        handled_after_kills
            .windows(2)
            .filter(|w| w[1] > w[0])
            .count()
            >= 5,
        "the killed runners made progress: {handled_after_kills:?}"
    );
    let runner = SagaRunner::<MoneyTransfer, _>::new(store.clone(), dispatcher(&store), ())
        .with_options(runner_options(16))
        .spawn();
    runner
        .wait_for(last, Duration::from_secs(60))
        .await
        .unwrap();
    wait_all_finished(&runner.sagas(), TRANSFERS).await;
    runner.stop().await;
    assert_end_state(&store, TRANSFERS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_runners_killed_at_random_leave_the_state_of_an_uninterrupted_run() {
    let path = services::sqlite_path("saga-killed");
    let store = SqliteStore::open(&path).unwrap();
    let env = ("ANNALS_SAGA_SQLITE", path.display().to_string());
    killed_runners_leave_the_state_of_an_uninterrupted_run(store, env).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_runners_killed_at_random_leave_the_state_of_an_uninterrupted_run() {
    let Some(store) = services::postgres_store(8).await else {
        return;
    };
    let env = ("ANNALS_SAGA_SCHEMA", store.schema().to_owned());
    killed_runners_leave_the_state_of_an_uninterrupted_run(store, env).await;
}

/// 1,000 transfers asked for at once, run by 16 workers: all finish, none stuck, none
/// doubled.
async fn a_thousand_sagas_on_sixteen_workers<St>(store: St)
where
    St: EventStore + CheckpointStore + SagaStore + SnapshotStore + Clone,
{
    const TRANSFERS: usize = 1_000;
    open_accounts(&store).await;
    let last = request(&store, 0..TRANSFERS).await;
    let runner = SagaRunner::<MoneyTransfer, _>::new(store.clone(), dispatcher(&store), ())
        .with_options(runner_options(16))
        .spawn();
    runner
        .wait_for(last, Duration::from_secs(120))
        .await
        .unwrap();
    wait_all_finished(&runner.sagas(), TRANSFERS).await;
    runner.stop().await;
    assert_end_state(&store, TRANSFERS).await;
}

store_matrix!([sqlite, postgres] => a_thousand_sagas_on_sixteen_workers);
