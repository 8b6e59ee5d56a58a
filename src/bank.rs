//! A bank account: open, deposit, withdraw, close.
//!
//! It shows every piece of the core: an event enum with a typed upcast (`Deposited` v1 → v2)
//! and a raw JSON upcast (`Opened` v1 renamed a field), an aggregate whose state is folded
//! from per-event [`Apply`] handlers, command structs that name their target with `#[id]`,
//! decisions that return events or a domain error, and an enum that routes them.

use annals::{Aggregate, Apply, Command, Event, Handle, UpcastError};
use serde::{Deserialize, Serialize};

/// An account was opened.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Opened {
    /// The account holder.
    pub owner: String,
}

/// Money was paid in.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Deposited {
    /// Amount in cents.
    pub amount: i64,
    /// What the payer wrote on the transfer. Added in version 2.
    pub reference: String,
}

/// Version 1 of [`Deposited`], before deposits carried a reference.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct DepositedV1 {
    /// Amount in cents.
    pub amount: i64,
}

impl From<DepositedV1> for Deposited {
    fn from(v1: DepositedV1) -> Self {
        Deposited {
            amount: v1.amount,
            reference: String::new(),
        }
    }
}

/// Money was paid out.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Withdrawn {
    /// Amount in cents.
    pub amount: i64,
}

/// The account was closed.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Closed {}

/// Everything that can happen to an account.
#[derive(Event, Clone, Debug, PartialEq, Eq)]
pub enum AccountEvent {
    /// Version 1 called the holder `name`; a raw upcaster renames the field.
    #[event(version = 2, upcast(from = 1, raw = rename_name_to_owner))]
    Opened(Opened),
    /// Version 1 had no reference; it converts with `From<DepositedV1>`.
    #[event(version = 2, upcast(from = 1, with = DepositedV1))]
    Deposited(Deposited),
    /// Withdrawals.
    Withdrawn(Withdrawn),
    /// Closure.
    Closed(Closed),
}

/// `{"name": ...}` → `{"owner": ...}`: the JSON of `Opened` v1 as v2.
pub fn rename_name_to_owner(mut v1: serde_json::Value) -> Result<serde_json::Value, UpcastError> {
    let object = v1
        .as_object_mut()
        .ok_or_else(|| UpcastError::new("expected a JSON object"))?;
    let name = object
        .remove("name")
        .ok_or_else(|| UpcastError::missing_field("name"))?;
    object.insert("owner".to_owned(), name);
    Ok(v1)
}

/// Why the bank refuses a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BankError {
    /// Amounts are positive.
    #[error("amounts must be positive, got {0}")]
    NonPositiveAmount(i64),
    /// A withdrawal above the balance.
    #[error("insufficient funds: balance {balance}, requested {requested}")]
    InsufficientFunds {
        /// The balance.
        balance: i64,
        /// The amount asked for.
        requested: i64,
    },
    /// The account is closed.
    #[error("the account is closed")]
    Closed,
    /// Only an empty account can close.
    #[error("cannot close an account holding {0}")]
    BalanceNotZero(i64),
}

/// The state of one account.
#[derive(Aggregate, Default, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[aggregate(event = AccountEvent, error = BankError, kind = "account", snapshot(version = 1))]
pub struct Account {
    /// The holder.
    pub owner: String,
    /// Balance in cents.
    pub balance: i64,
    /// Whether the account was closed.
    pub closed: bool,
}

impl Apply<Opened> for Account {
    fn apply(&mut self, event: &Opened) {
        self.owner = event.owner.clone();
    }
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

impl Apply<Closed> for Account {
    fn apply(&mut self, _: &Closed) {
        self.closed = true;
    }
}

/// Open an account. Creates the stream.
#[derive(Command, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[command(aggregate = Account, expect = new)]
pub struct Open {
    /// The account id.
    #[id]
    pub account: String,
    /// The holder.
    pub owner: String,
}

/// Pay money in.
#[derive(Command, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[command(aggregate = Account)]
pub struct Deposit {
    /// The account id.
    #[id]
    pub account: String,
    /// Amount in cents.
    pub amount: i64,
    /// What the payer wrote on the transfer.
    pub reference: String,
}

/// Pay money out.
#[derive(Command, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[command(aggregate = Account)]
pub struct Withdraw {
    /// The account id.
    #[id]
    pub account: String,
    /// Amount in cents.
    pub amount: i64,
}

/// Close an empty account.
#[derive(Command, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[command(aggregate = Account)]
pub struct Close {
    /// The account id.
    #[id]
    pub account: String,
}

/// Every account command, e.g. as received from an API.
#[derive(Command, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[command(aggregate = Account)]
pub enum AccountCommand {
    /// [`Open`].
    Open(Open),
    /// [`Deposit`].
    Deposit(Deposit),
    /// [`Withdraw`].
    Withdraw(Withdraw),
    /// [`Close`].
    Close(Close),
}

impl Account {
    fn ensure_open(&self) -> Result<(), BankError> {
        if self.closed {
            Err(BankError::Closed)
        } else {
            Ok(())
        }
    }
}

fn positive(amount: i64) -> Result<i64, BankError> {
    if amount > 0 {
        Ok(amount)
    } else {
        Err(BankError::NonPositiveAmount(amount))
    }
}

impl Handle<Open> for Account {
    fn handle(&self, command: &Open) -> Result<Vec<AccountEvent>, BankError> {
        Ok(vec![
            Opened {
                owner: command.owner.clone(),
            }
            .into(),
        ])
    }
}

impl Handle<Deposit> for Account {
    fn handle(&self, command: &Deposit) -> Result<Vec<AccountEvent>, BankError> {
        self.ensure_open()?;
        let amount = positive(command.amount)?;
        Ok(vec![
            Deposited {
                amount,
                reference: command.reference.clone(),
            }
            .into(),
        ])
    }
}

impl Handle<Withdraw> for Account {
    fn handle(&self, command: &Withdraw) -> Result<Vec<AccountEvent>, BankError> {
        self.ensure_open()?;
        let amount = positive(command.amount)?;
        if amount > self.balance {
            return Err(BankError::InsufficientFunds {
                balance: self.balance,
                requested: amount,
            });
        }
        Ok(vec![Withdrawn { amount }.into()])
    }
}

impl Handle<Close> for Account {
    fn handle(&self, _: &Close) -> Result<Vec<AccountEvent>, BankError> {
        self.ensure_open()?;
        if self.balance != 0 {
            return Err(BankError::BalanceNotZero(self.balance));
        }
        Ok(vec![Closed {}.into()])
    }
}
