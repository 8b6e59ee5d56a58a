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

// No `impl From<DepositedV1> for Deposited`.

#[derive(Event)]
enum AccountEvent {
    #[event(version = 2, upcast(from = 1, with = DepositedV1))]
    Deposited(Deposited),
}

fn main() {}
