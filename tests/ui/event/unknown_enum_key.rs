use annals::Event;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Deposited {
    amount: i64,
}

#[derive(Event)]
#[event(rename_all = "snake_case")]
enum AccountEvent {
    Deposited(Deposited),
}

fn main() {}
