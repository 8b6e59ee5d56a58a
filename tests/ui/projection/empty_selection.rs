use annals::{Event, Projection};
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

#[derive(Projection, Default)]
#[projection(events(AccountEvent::{}))]
struct Balance {
    total: i64,
}

fn main() {}
