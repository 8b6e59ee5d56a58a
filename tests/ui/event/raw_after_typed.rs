use annals::{Event, UpcastError};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct DepositedV1 {
    amount: i64,
}

#[derive(Serialize, Deserialize)]
struct DepositedV2 {
    amount: i64,
    reference: String,
}

#[derive(Serialize, Deserialize)]
struct Deposited {
    amount_cents: i64,
    reference: String,
}

impl From<DepositedV1> for DepositedV2 {
    fn from(v1: DepositedV1) -> Self {
        DepositedV2 {
            amount: v1.amount,
            reference: String::new(),
        }
    }
}

fn rename_amount(mut v2: serde_json::Value) -> Result<serde_json::Value, UpcastError> {
    let amount = v2["amount"].take();
    v2["amount_cents"] = amount;
    Ok(v2)
}

#[derive(Event)]
enum AccountEvent {
    #[event(
        version = 3,
        upcast(from = 1, with = DepositedV1),
        upcast(from = 2, raw = rename_amount),
    )]
    Deposited(Deposited),
}

fn main() {}
