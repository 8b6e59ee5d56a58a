use annals::Event;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Deposited {
    amount: i64,
}

#[derive(Event)]
enum AccountEvent {
    #[event(rename = "MoneyDeposited")]
    Deposited(Deposited),
}

fn main() {}
