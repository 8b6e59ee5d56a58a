//! Commands with an idempotency key run at most once per key and stream: run again (a
//! retried request, a redelivered message), in this process or another, before or after a
//! restart, they return the first outcome and append nothing.

mod services;

use std::process::{Command as Process, Stdio};
use std::time::Duration;

use annals::Repository;
use annals::store::{EventStore, PostgresOptions, PostgresStore, SnapshotStore, SqliteStore};
use annals_examples::bank::{Account, Deposit, Open};

fn deposit(account: &str, amount: i64) -> Deposit {
    Deposit {
        account: account.into(),
        amount,
        reference: "rent".into(),
    }
}

fn open(account: &str) -> Open {
    Open {
        account: account.into(),
        owner: "ada".into(),
    }
}

async fn balance<S: EventStore + SnapshotStore + Clone>(store: &S, account: &str) -> i64 {
    Repository::<Account, _>::new(store.clone())
        .load(account)
        .await
        .unwrap()
        .state
        .balance
}

/// Deposited twice with one key: once in the log, and the second call answers with the
/// first's outcome.
async fn a_keyed_command_run_again_returns_its_first_outcome_and_appends_nothing<S>(store: S)
where
    S: EventStore + SnapshotStore + Clone,
{
    let accounts = Repository::<Account, _>::new(store.clone());
    accounts.execute(open("acc")).await.unwrap();
    let first = accounts
        .execute_once("pay-1", deposit("acc", 40))
        .await
        .unwrap();
    let again = accounts
        .execute_once("pay-1", deposit("acc", 40))
        .await
        .unwrap();
    assert!(!first.replayed);
    assert!(again.replayed);
    assert_eq!(again.stream_version, first.stream_version);
    assert_eq!(again.position, first.position);
    assert_eq!(again.events, first.events);
    assert_eq!(balance(&store, "acc").await, 40);
    assert_eq!(store.stream_version("account-acc").await.unwrap(), 2);
}

/// A creating command run again with its key: its first outcome, not "already exists".
async fn a_keyed_command_the_state_would_now_refuse_returns_its_first_outcome<S>(store: S)
where
    S: EventStore + SnapshotStore + Clone,
{
    let accounts = Repository::<Account, _>::new(store);
    let first = accounts
        .execute_once("open-acc", open("acc"))
        .await
        .unwrap();
    let again = accounts
        .execute_once("open-acc", open("acc"))
        .await
        .unwrap();
    assert!(again.replayed);
    assert_eq!(again.events, first.events);
    // Without the key the state decides, and refuses.
    let unkeyed = accounts.execute(open("acc")).await.unwrap_err();
    assert!(unkeyed.is_rejection(), "{unkeyed}");
}

/// A withdrawal run again with its key after it emptied the account: its first outcome,
/// not the refusal the state would now give.
async fn a_keyed_command_refused_on_the_state_it_left_returns_its_first_outcome<S>(store: S)
where
    S: EventStore + SnapshotStore + Clone,
{
    let accounts = Repository::<Account, _>::new(store.clone());
    accounts.execute(open("acc")).await.unwrap();
    accounts.execute(deposit("acc", 30)).await.unwrap();
    let withdraw = || annals_examples::bank::Withdraw {
        account: "acc".into(),
        amount: 30,
    };
    let first = accounts.execute_once("pay-3", withdraw()).await.unwrap();
    let again = accounts.execute_once("pay-3", withdraw()).await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.events, first.events);
    assert_eq!(balance(&store, "acc").await, 0);
}

/// Another key, or the same key on another account, is another command.
async fn keys_are_per_stream<S>(store: S)
where
    S: EventStore + SnapshotStore + Clone,
{
    let accounts = Repository::<Account, _>::new(store.clone());
    accounts.execute(open("a")).await.unwrap();
    accounts.execute(open("b")).await.unwrap();
    accounts
        .execute_once("msg-9", deposit("a", 5))
        .await
        .unwrap();
    let other_account = accounts
        .execute_once("msg-9", deposit("b", 5))
        .await
        .unwrap();
    let other_key = accounts
        .execute_once("msg-10", deposit("a", 5))
        .await
        .unwrap();
    assert!(!other_account.replayed && !other_key.replayed);
    assert_eq!(balance(&store, "a").await, 10);
    assert_eq!(balance(&store, "b").await, 5);
}

store_matrix!([memory, sqlite, postgres] =>
    a_keyed_command_run_again_returns_its_first_outcome_and_appends_nothing,
    a_keyed_command_the_state_would_now_refuse_returns_its_first_outcome,
    a_keyed_command_refused_on_the_state_it_left_returns_its_first_outcome,
    keys_are_per_stream,
);

/// The key lives in the store: a new process (here: a reopened store and a new repository,
/// no cache) still finds it.
#[tokio::test]
async fn a_key_holds_after_a_restart() {
    let path = services::sqlite_path("keyed-restart");
    {
        let accounts = Repository::<Account, _>::new(SqliteStore::open(&path).unwrap());
        accounts.execute(open("acc")).await.unwrap();
        accounts
            .execute_once("pay-1", deposit("acc", 40))
            .await
            .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    let accounts = Repository::<Account, _>::new(store.clone());
    let again = accounts
        .execute_once("pay-1", deposit("acc", 40))
        .await
        .unwrap();
    assert!(again.replayed);
    assert_eq!(balance(&store, "acc").await, 40);
}

const KEYS: usize = 40;

/// Run in two child processes at once by `two_processes_with_the_same_keys_...`: deposits
/// 1 on the account with keys `key-0` .. `key-39`, starting at `ANNALS_START_AT` (ms since
/// the epoch) so both race.
#[tokio::test]
#[ignore = "a child process of two_processes_with_the_same_keys_append_each_once"]
async fn keyed_depositor_child() {
    let (Ok(schema), Ok(start)) = (
        std::env::var("ANNALS_SCHEMA"),
        std::env::var("ANNALS_START_AT"),
    ) else {
        return;
    };
    let store = PostgresStore::connect_with(
        PostgresOptions::new(services::database_url()).with_schema(schema),
    )
    .await
    .unwrap();
    let accounts = Repository::<Account, _>::new(store);
    let start: u128 = start.parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    tokio::time::sleep(Duration::from_millis(start.saturating_sub(now) as u64)).await;
    for key in 0..KEYS {
        accounts
            .execute_once(&format!("key-{key}"), deposit("shared", 1))
            .await
            .unwrap();
    }
}

/// Two processes run the same keyed commands at the same instant on PostgreSQL: each key's
/// deposit is recorded once.
#[tokio::test]
async fn two_processes_with_the_same_keys_append_each_once() {
    let Some(store) = services::postgres().await else {
        return;
    };
    let accounts = Repository::<Account, _>::new(store.clone());
    accounts.execute(open("shared")).await.unwrap();
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        + 1_500;
    let children: Vec<_> = (0..2)
        .map(|_| {
            Process::new(std::env::current_exe().unwrap())
                .args([
                    "--ignored",
                    "--exact",
                    "keyed_depositor_child",
                    "--test-threads=1",
                ])
                .env("ANNALS_SCHEMA", store.schema())
                .env("ANNALS_START_AT", start.to_string())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success(), "a child failed");
    }
    assert_eq!(balance(&store, "shared").await, KEYS as i64);
    assert_eq!(
        store.stream_version("account-shared").await.unwrap(),
        1 + KEYS as u64
    );
}
