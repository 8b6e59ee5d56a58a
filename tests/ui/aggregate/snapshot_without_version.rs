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

#[derive(Aggregate, Default, Serialize, Deserialize)]
#[aggregate(event = AccountEvent, error = BankError, snapshot)]
struct Account {
    balance: i64,
}

impl Apply<Deposited> for Account {
    fn apply(&mut self, event: &Deposited) {
        self.balance += event.amount;
    }
}

fn main() {}
