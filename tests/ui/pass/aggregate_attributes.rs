//! Every `#[aggregate(...)]` attribute: `event`, `error`, `kind`, `snapshot(version)` and
//! `crate`, on an aggregate that folds its events through `Apply` handlers.

use serde::{Deserialize, Serialize};

mod reexport {
    pub use annals;
}

use annals::{Aggregate, Apply, Event};

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Deposited {
    amount: i64,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Withdrawn {
    amount: i64,
}

#[derive(Event, Clone, Debug, PartialEq)]
enum AccountEvent {
    Deposited(Deposited),
    Withdrawn(Withdrawn),
}

#[derive(Debug, thiserror::Error)]
#[error("bank error")]
struct BankError;

#[derive(Aggregate, Default, Debug, PartialEq, Serialize, Deserialize)]
#[aggregate(
    event = AccountEvent,
    error = BankError,
    kind = "bank-account",
    snapshot(version = 2),
    crate = "reexport::annals"
)]
struct Account {
    balance: i64,
}

impl Apply<Deposited> for Account {
    fn apply(&mut self, event: &Deposited) {
        self.balance += event.amount;
    }
}

impl Apply<Withdrawn> for Account {
    fn apply(&mut self, event: &Withdrawn) {
        self.balance -= event.amount;
    }
}

/// The defaults: kind from the type name, no snapshots.
#[derive(Aggregate, Default)]
#[aggregate(event = AccountEvent, error = BankError)]
struct SavingsAccount {
    balance: i64,
}

impl Apply<Deposited> for SavingsAccount {
    fn apply(&mut self, event: &Deposited) {
        self.balance += event.amount;
    }
}

impl Apply<Withdrawn> for SavingsAccount {
    fn apply(&mut self, event: &Withdrawn) {
        self.balance -= event.amount;
    }
}

fn main() {
    assert_eq!(Account::KIND, "bank-account");
    assert_eq!(Account::stream_id("a1"), "bank-account-a1");
    assert_eq!(SavingsAccount::KIND, "savings_account");

    let mut account = Account::default();
    account.apply_event(&Deposited { amount: 10 }.into());
    account.apply_event(&AccountEvent::Withdrawn(Withdrawn { amount: 3 }));
    assert_eq!(account.balance, 7);

    // The same events fold into another aggregate with its own handlers.
    let mut savings = SavingsAccount::default();
    savings.apply_event(&Deposited { amount: 4 }.into());
    assert_eq!(savings.balance, 4);

    let format = Account::snapshot_format().expect("`snapshot(version = 2)` enables snapshots");
    assert_eq!(format.version, 2);
    let bytes = (format.encode)(&account).unwrap();
    assert_eq!(bytes, br#"{"balance":7}"#);
    assert_eq!((format.decode)(&bytes).unwrap(), account);
    assert!(SavingsAccount::snapshot_format().is_none());
}
