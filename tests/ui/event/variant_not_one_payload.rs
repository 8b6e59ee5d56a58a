use annals::Event;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Opened {
    owner: String,
}

#[derive(Event)]
enum AccountEvent {
    Opened(Opened),
    Deposited { amount: i64 },
    Closed,
}

fn main() {}
