use annals::Aggregate;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Deposited {
    amount: i64,
}

#[derive(Debug, thiserror::Error)]
#[error("bank error")]
struct BankError;

#[derive(Aggregate, Default)]
#[aggregate(event = Deposited, error = BankError)]
struct Account {
    balance: i64,
}

fn main() {}
