use annals::Event;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct DepositedV1 {
    amount: i64,
}

#[derive(Serialize, Deserialize)]
struct Deposited {
    amount: i64,
    reference: String,
}

impl From<DepositedV1> for Deposited {
    fn from(v1: DepositedV1) -> Self {
        Deposited {
            amount: v1.amount,
            reference: String::new(),
        }
    }
}

#[derive(Event)]
enum AccountEvent {
    #[event(version = 2, upcast(from = 1, with = DepositedV1), upcast(from = 2, with = DepositedV1))]
    Deposited(Deposited),
}

fn main() {}
