//! The command dispatcher: each command reaches its aggregate's repository, whatever store
//! serves it; keyed commands run once through it too.

mod services;

use annals::store::{EventStore, InMemoryStore, SqliteStore};
use annals::{CommandDispatcher, CommandError, Repository};
use annals_examples::bank::{Account, Deposit, Open};
use annals_examples::orders::{Order, OrderLine, PlaceOrder};

fn place(order: &str) -> PlaceOrder {
    PlaceOrder {
        order: order.into(),
        customer: "ada".into(),
        lines: vec![OrderLine {
            sku: "tea".into(),
            quantity: 1,
            unit_price_cents: 450,
        }],
    }
}

fn open(account: &str) -> Open {
    Open {
        account: account.into(),
        owner: "ada".into(),
    }
}

#[tokio::test]
async fn each_command_reaches_the_repository_of_its_aggregate() {
    let accounts = SqliteStore::open(services::sqlite_path("dispatch")).unwrap();
    let orders = InMemoryStore::new();
    let commands = CommandDispatcher::new()
        .with_repository(Repository::<Account, _>::new(accounts.clone()))
        .with_repository(Repository::<Order, _>::new(orders.clone()));

    let opened = commands.execute(open("a-1")).await.unwrap();
    let placed = commands.execute(place("o-1")).await.unwrap();
    assert_eq!(
        (opened.stream_id.as_str(), placed.stream_id.as_str()),
        ("account-a-1", "order-o-1")
    );
    assert_eq!(accounts.stream_version("account-a-1").await.unwrap(), 1);
    assert_eq!(orders.stream_version("order-o-1").await.unwrap(), 1);
    assert_eq!(
        orders.stream_version("account-a-1").await.unwrap(),
        0,
        "not in the other store"
    );
}

#[tokio::test]
async fn a_keyed_command_runs_once_through_the_dispatcher() {
    let store = InMemoryStore::new();
    let commands =
        CommandDispatcher::new().with_repository(Repository::<Account, _>::new(store.clone()));
    commands.execute(open("a-1")).await.unwrap();
    let deposit = || Deposit {
        account: "a-1".into(),
        amount: 10,
        reference: "saga-7/step-1".into(),
    };
    let first = commands
        .execute_once("saga-7/step-1", deposit())
        .await
        .unwrap();
    let again = commands
        .execute_once("saga-7/step-1", deposit())
        .await
        .unwrap();
    assert!(!first.replayed && again.replayed);
    assert_eq!(store.stream_version("account-a-1").await.unwrap(), 2);
}

#[tokio::test]
async fn a_command_without_a_repository_says_which_aggregate_lacks_one() {
    let commands = CommandDispatcher::new()
        .with_repository(Repository::<Account, _>::new(InMemoryStore::new()));
    let error = commands.execute(place("o-1")).await.unwrap_err();
    assert!(
        matches!(error, CommandError::NoRepository { .. }),
        "{error}"
    );
    assert!(error.is_infrastructure());
    let said = error.to_string();
    assert!(
        said.contains("Order") && said.contains("with_repository"),
        "{said}"
    );
}

#[test]
#[should_panic(expected = "routed already")]
fn one_aggregate_cannot_be_routed_to_two_repositories() {
    let _ = CommandDispatcher::new()
        .with_repository(Repository::<Account, _>::new(InMemoryStore::new()))
        .with_repository(Repository::<Account, _>::new(InMemoryStore::new()));
}
