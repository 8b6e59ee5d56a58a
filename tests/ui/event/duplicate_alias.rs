use annals::Event;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Opened {
    owner: String,
}

#[derive(Serialize, Deserialize)]
struct Deposited {
    amount: i64,
}

#[derive(Event)]
enum AccountEvent {
    Opened(Opened),
    #[event(aliases = ["MoneyDeposited", "Opened"])]
    Deposited(Deposited),
}

fn main() {}
