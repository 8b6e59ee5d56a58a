use annals::{Event, UpcastError};
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

fn add_reference(mut v1: serde_json::Value) -> Result<serde_json::Value, UpcastError> {
    v1["reference"] = "".into();
    Ok(v1)
}

#[derive(Event)]
enum AccountEvent {
    #[event(version = 2, upcast(from = 1, with = DepositedV1, raw = add_reference))]
    Deposited(Deposited),
}

fn main() {}
