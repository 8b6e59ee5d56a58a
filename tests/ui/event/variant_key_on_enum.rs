use annals::Event;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Deposited {
    amount: i64,
}

#[derive(Event)]
#[event(version = 2)]
enum AccountEvent {
    Deposited(Deposited),
}

fn main() {}
