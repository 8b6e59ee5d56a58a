//! Generated code uses absolute paths and its own locals: shadowing the prelude, and naming
//! an upcaster like a local of the generated code, change nothing.

#![allow(dead_code, non_camel_case_types)]

use serde::{Deserialize, Serialize};

// Shadow the names generated code could otherwise pick up from the prelude.
struct Result;
struct Ok;
struct Err;
struct Option;
struct Some;
struct None;
struct Vec;
struct String;
struct Box;
struct From;
struct Into;
struct ToString;
struct Default;
struct Sized;
struct Send;
struct Sync;
mod core {}
mod std {}
mod serde_json {}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Deposited {
    amount: i64,
}

/// Upcasters named like the generated `decode`'s locals.
fn value(
    mut v1: ::serde_json::Value,
) -> ::core::result::Result<::serde_json::Value, annals::UpcastError> {
    v1["amount"] = 1.into();
    ::core::result::Result::Ok(v1)
}

fn payload(
    v2: ::serde_json::Value,
) -> ::core::result::Result<::serde_json::Value, annals::UpcastError> {
    ::core::result::Result::Ok(v2)
}

#[derive(annals::Event, Debug, PartialEq)]
enum AccountEvent {
    #[event(version = 3, upcast(from = 1, raw = value), upcast(from = 2, raw = payload))]
    Deposited(Deposited),
}

#[derive(Debug, thiserror::Error)]
#[error("bank error")]
struct BankError;

#[derive(annals::Aggregate, serde::Serialize, serde::Deserialize)]
#[aggregate(event = AccountEvent, error = BankError, snapshot(version = 1))]
struct Account {
    balance: i64,
}

impl ::core::default::Default for Account {
    fn default() -> Self {
        Account { balance: 0 }
    }
}

impl annals::Apply<Deposited> for Account {
    fn apply(&mut self, event: &Deposited) {
        self.balance += event.amount;
    }
}

#[derive(annals::Command)]
#[command(aggregate = Account, expect = any)]
struct Deposit {
    #[id]
    account: ::std::string::String,
    amount: i64,
}

impl annals::Handle<Deposit> for Account {
    fn handle(
        &self,
        command: &Deposit,
    ) -> ::core::result::Result<::std::vec::Vec<AccountEvent>, BankError> {
        ::core::result::Result::Ok(::std::vec![AccountEvent::Deposited(Deposited {
            amount: command.amount,
        })])
    }
}

#[derive(annals::Command)]
#[command(aggregate = Account)]
enum AccountCommand {
    Deposit(Deposit),
}

fn main() {
    use annals::{Aggregate, Command, Event};

    let decoded = AccountEvent::decode("Deposited", 1, br#"{"amount":5}"#).unwrap();
    assert_eq!(decoded, AccountEvent::Deposited(Deposited { amount: 1 }));

    let command = AccountCommand::Deposit(Deposit {
        account: "a1".into(),
        amount: 2,
    });
    let mut account = <Account as ::core::default::Default>::default();
    for event in command.handle(&account).unwrap() {
        account.apply_event(&event);
    }
    assert_eq!(account.balance, 2);
    assert_eq!(command.aggregate_id(), "a1");
    assert!(Account::snapshot_format().is_some());
}
