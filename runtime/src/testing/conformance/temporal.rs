//! Temporal loads, through the repository, on this store.

use serde::{Deserialize, Serialize};

use super::support::*;
use crate::{Aggregate, Apply, Command, Event, Handle, Repository};

// A small bank account, the domain the temporal cases load.

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Opened {
    owner: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Deposited {
    amount: i64,
}

#[derive(Event, Clone, Debug, PartialEq)]

enum AccountEvent {
    #[event(name = "conformance.Opened")]
    Opened(Opened),
    #[event(name = "conformance.Deposited")]
    Deposited(Deposited),
}

#[derive(Debug, thiserror::Error)]
#[error("never")]
struct Never;

#[derive(Aggregate, Default)]
#[aggregate(event = AccountEvent, error = Never, kind = "conformance_account")]
struct Account {
    balance: i64,
}

impl Apply<Opened> for Account {
    fn apply(&mut self, _: &Opened) {}
}

impl Apply<Deposited> for Account {
    fn apply(&mut self, event: &Deposited) {
        self.balance += event.amount;
    }
}

#[derive(Command)]
#[command(aggregate = Account, expect = new)]
struct Open {
    #[id]
    account: String,
    owner: String,
}

impl Handle<Open> for Account {
    fn handle(&self, command: &Open) -> Result<Vec<AccountEvent>, Never> {
        Ok(vec![
            Opened {
                owner: command.owner.clone(),
            }
            .into(),
        ])
    }
}

#[derive(Command, Clone)]
#[command(aggregate = Account)]
struct Deposit {
    #[id]
    account: String,
    amount: i64,
}

impl Handle<Deposit> for Account {
    fn handle(&self, command: &Deposit) -> Result<Vec<AccountEvent>, Never> {
        Ok(vec![
            Deposited {
                amount: command.amount,
            }
            .into(),
        ])
    }
}
/// `load_at_version` gives the account after exactly its first n events, for each n.
pub async fn temporal_load_at_each_version<S: EventStore + SnapshotStore>(store: S) {
    let case = Case::new("temporal_load_at_each_version");
    let id = case.stream("account");
    let accounts = Repository::<Account, _>::new(store);
    accounts
        .execute(Open {
            account: id.clone(),
            owner: "Ada".into(),
        })
        .await
        .unwrap();
    for amount in [10, 20, 30] {
        let deposit = Deposit {
            account: id.clone(),
            amount,
        };
        accounts.execute(deposit).await.unwrap();
    }
    let balances: Vec<(u64, i64)> = {
        let mut balances = Vec::new();
        for version in 0..=5 {
            let loaded = accounts.load_at_version(&id, version).await.unwrap();
            balances.push((loaded.version, loaded.state.balance));
        }
        balances
    };
    assert_eq!(
        balances,
        [(0, 0), (1, 0), (2, 10), (3, 30), (4, 60), (4, 60)]
    );
}

/// `load_as_of` a time between two appends gives the state before the later one.
pub async fn temporal_load_as_of_a_time_between_appends<S: EventStore + SnapshotStore>(store: S) {
    let case = Case::new("temporal_load_as_of_a_time_between_appends");
    let id = case.stream("account");
    let accounts = Repository::<Account, _>::new(store);
    let opened = accounts
        .execute(Open {
            account: id.clone(),
            owner: "Ada".into(),
        })
        .await
        .unwrap();
    let deposit = Deposit {
        account: id.clone(),
        amount: 10,
    };
    let first = accounts.execute(deposit.clone()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    accounts.execute(deposit).await.unwrap();

    let between = first.events[0].recorded_at + TimeDelta::milliseconds(5);
    let then = accounts.load_as_of(&id, between).await.unwrap();
    assert_eq!((then.version, then.state.balance), (2, 10));
    let before = opened.events[0].recorded_at - TimeDelta::seconds(1);
    let nothing = accounts.load_as_of(&id, before).await.unwrap();
    assert_eq!(nothing.version, 0);
}
