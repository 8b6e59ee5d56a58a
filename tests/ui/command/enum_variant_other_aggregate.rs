use annals::{Aggregate, Apply, Command, Event, Handle};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Deposited {
    amount: i64,
}

#[derive(Event, Debug, PartialEq)]
enum AccountEvent {
    Deposited(Deposited),
}

#[derive(Debug, thiserror::Error)]
#[error("bank error")]
struct BankError;

#[derive(Aggregate, Default)]
#[aggregate(event = AccountEvent, error = BankError)]
struct Account {
    balance: i64,
}

impl Apply<Deposited> for Account {
    fn apply(&mut self, event: &Deposited) {
        self.balance += event.amount;
    }
}

#[derive(Command)]
#[command(aggregate = Account)]
struct Deposit {
    #[id]
    account: String,
    amount: i64,
}

impl Handle<Deposit> for Account {
    fn handle(&self, command: &Deposit) -> Result<Vec<AccountEvent>, BankError> {
        Ok(vec![
            Deposited {
                amount: command.amount,
            }
            .into(),
        ])
    }
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Registered {
    email: String,
}

#[derive(Event, Debug, PartialEq)]
enum CustomerEvent {
    Registered(Registered),
}

#[derive(Aggregate, Default)]
#[aggregate(event = CustomerEvent, error = BankError)]
struct Customer {
    email: String,
}

impl Apply<Registered> for Customer {
    fn apply(&mut self, event: &Registered) {
        self.email = event.email.clone();
    }
}

#[derive(Command)]
#[command(aggregate = Customer, expect = new)]
struct Register {
    #[id]
    customer: String,
    email: String,
}

impl Handle<Register> for Customer {
    fn handle(&self, command: &Register) -> Result<Vec<CustomerEvent>, BankError> {
        Ok(vec![
            Registered {
                email: command.email.clone(),
            }
            .into(),
        ])
    }
}

#[derive(Command)]
#[command(aggregate = Account)]
enum AccountCommand {
    Deposit(Deposit),
    // `Register` is a command of `Customer`, not of `Account`.
    Register(Register),
}

fn main() {}
