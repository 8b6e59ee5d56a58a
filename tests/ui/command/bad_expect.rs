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
#[command(aggregate = Account, expect = exists)]
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

fn main() {}
