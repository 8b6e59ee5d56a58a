use annals::{Aggregate, Apply, Event};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Deposited {
    amount: i64,
}

#[derive(Serialize, Deserialize)]
struct Withdrawn {
    amount: i64,
}

#[derive(Event)]
enum AccountEvent {
    Deposited(Deposited),
    Withdrawn(Withdrawn),
}

#[derive(Debug, thiserror::Error)]
#[error("bank error")]
struct BankError;

#[derive(Aggregate, Default)]
#[aggregate(event = AccountEvent, error = BankError)]
struct Account {
    balance: i64,
}

impl Apply<Deposited> for Account {
    fn apply(&mut self, event: &Deposited) {
        self.balance += event.amount;
    }
}

// No `impl Apply<Withdrawn> for Account`.

fn main() {}
