//! Every `#[command(...)]` attribute: `aggregate`, `expect = new | existing | any`,
//! `id = accessor`, `#[id]` on a named and on a tuple field, `name`, `crate`, and an enum
//! that routes command structs.

use serde::{Deserialize, Serialize};

mod reexport {
    pub use annals;
}

use annals::{Aggregate, Apply, Command, Event, Expect, Handle};

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Opened {
    owner: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Deposited {
    amount: i64,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Closed {}

#[derive(Event, Clone, Debug, PartialEq)]
enum AccountEvent {
    Opened(Opened),
    Deposited(Deposited),
    Closed(Closed),
}

#[derive(Debug, PartialEq, thiserror::Error)]
#[error("the account is closed")]
struct Refused;

#[derive(Aggregate, Default)]
#[aggregate(event = AccountEvent, error = Refused)]
struct Account {
    balance: i64,
    closed: bool,
}

impl Apply<Opened> for Account {
    fn apply(&mut self, _: &Opened) {}
}

impl Apply<Deposited> for Account {
    fn apply(&mut self, event: &Deposited) {
        self.balance += event.amount;
    }
}

impl Apply<Closed> for Account {
    fn apply(&mut self, _: &Closed) {
        self.closed = true;
    }
}

/// A typed id: anything that implements `Display`.
#[derive(Clone, Copy, Debug, PartialEq)]
struct AccountId(u32);

impl std::fmt::Display for AccountId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "acc{}", self.0)
    }
}

#[derive(Command, Debug)]
#[command(aggregate = Account, expect = new, name = "OpenAccount")]
struct Open {
    #[id]
    account: AccountId,
    owner: String,
}

#[derive(Command, Debug)]
#[command(aggregate = Account, expect = existing, id = Deposit::target)]
struct Deposit {
    to: String,
    amount: i64,
}

impl Deposit {
    fn target(&self) -> &str {
        &self.to
    }
}

#[derive(Command, Debug)]
#[command(aggregate = Account, expect = any, crate = "reexport::annals")]
struct Close(#[id] AccountId);

// The handlers may name the aggregate's types through `Self`.
impl Handle<Open> for Account {
    fn handle(&self, command: &Open) -> Result<Vec<Self::Event>, Self::Error> {
        Ok(vec![
            Opened {
                owner: command.owner.clone(),
            }
            .into(),
        ])
    }
}

impl Handle<Deposit> for Account {
    fn handle(&self, command: &Deposit) -> Result<Vec<AccountEvent>, Refused> {
        if self.closed {
            return Err(Refused);
        }
        Ok(vec![
            Deposited {
                amount: command.amount,
            }
            .into(),
        ])
    }
}

impl Handle<Close> for Account {
    fn handle(&self, _: &Close) -> Result<Vec<AccountEvent>, Refused> {
        Ok(vec![Closed {}.into()])
    }
}

#[derive(Command, Debug)]
#[command(aggregate = Account, crate = "reexport::annals")]
enum AccountCommand {
    Open(Open),
    Deposit(Deposit),
    Close(Close),
}

fn main() {
    let open = Open {
        account: AccountId(7),
        owner: "ada".to_owned(),
    };
    assert_eq!(open.aggregate_id(), "acc7");
    assert_eq!(open.expect(), Expect::New);
    assert_eq!(open.command_name(), "OpenAccount");

    let deposit = Deposit {
        to: "acc7".to_owned(),
        amount: 5,
    };
    assert_eq!(deposit.aggregate_id(), "acc7");
    assert_eq!(deposit.expect(), Expect::Existing);
    assert_eq!(deposit.command_name(), "Deposit");

    let close = Close(AccountId(7));
    assert_eq!(close.aggregate_id(), "acc7");
    assert_eq!(close.expect(), Expect::Any);

    // The enum routes each variant to its struct.
    let commands: Vec<AccountCommand> = vec![open.into(), deposit.into(), close.into()];
    let names: Vec<_> = commands.iter().map(|c| c.command_name()).collect();
    assert_eq!(names, ["OpenAccount", "Deposit", "Close"]);
    let expects: Vec<_> = commands.iter().map(|c| c.expect()).collect();
    assert_eq!(expects, [Expect::New, Expect::Existing, Expect::Any]);
    assert!(commands.iter().all(|c| c.aggregate_id() == "acc7"));

    let mut account = Account::default();
    for command in &commands {
        for event in command.handle(&account).unwrap() {
            account.apply_event(&event);
        }
    }
    assert_eq!(account.balance, 5);
    assert!(account.closed);
    assert_eq!(commands[1].handle(&account), Err(Refused));
}
