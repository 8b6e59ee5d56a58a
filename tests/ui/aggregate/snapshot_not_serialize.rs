use annals::{Aggregate, Apply, Event};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Deposited {
    amount: i64,
}

#[derive(Event)]
enum AccountEvent {
    Deposited(Deposited),
}

#[derive(Debug, thiserror::Error)]
#[error("bank error")]
struct BankError;

// Snapshots are stored as JSON: the state must derive `Serialize` and `Deserialize`.
#[derive(Aggregate, Default)]
#[aggregate(event = AccountEvent, error = BankError, snapshot(version = 1))]
struct Account {
    balance: i64,
}

impl Apply<Deposited> for Account {
    fn apply(&mut self, event: &Deposited) {
        self.balance += event.amount;
    }
}

fn main() {}
