use annals::Event;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Deposited<T> {
    amount: T,
}

#[derive(Event)]
enum AccountEvent<T> {
    Deposited(Deposited<T>),
}

fn main() {}
