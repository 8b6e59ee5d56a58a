//! Money transfers between two accounts of the [bank](crate::bank): a saga debits the
//! payer, credits the payee and, when the payee cannot take the money (its account is
//! closed), refunds the payer.
//!
//! A transfer is asked for with a command on its own aggregate ([`RequestTransfer`]); the
//! [`MoneyTransfer`] saga starts on the [`TransferRequested`] event it records and sends
//! the accounts' commands through the dispatcher, each once under its step's key.

use annals::saga::{Plan, React, Saga, StepContext, StepError, StepOutput, Steps};
use annals::{Aggregate, Apply, Command, Event, Handle, Recorded};
use serde::{Deserialize, Serialize};

use crate::bank::{Deposit, Withdraw};

/// A transfer was asked for.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct TransferRequested {
    /// The transfer's id.
    pub transfer: String,
    /// The payer's account.
    pub from: String,
    /// The payee's account.
    pub to: String,
    /// Amount in cents.
    pub amount: i64,
}

/// What happens to a transfer request.
#[derive(Event, Clone, Debug, PartialEq, Eq)]
pub enum TransferEvent {
    /// [`TransferRequested`].
    Requested(TransferRequested),
}

/// Why a transfer request is refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransferError {
    /// The amount is zero or negative.
    #[error("a transfer moves a positive amount, not {0}")]
    NonPositiveAmount(i64),
    /// Payer and payee are one account.
    #[error("a transfer moves money between two accounts")]
    SameAccount,
}

/// A transfer request.
#[derive(Aggregate, Default)]
#[aggregate(event = TransferEvent, error = TransferError, kind = "transfer")]
pub struct Transfer {
    requested: bool,
}

impl Apply<TransferRequested> for Transfer {
    fn apply(&mut self, _: &TransferRequested) {
        self.requested = true;
    }
}

/// Ask for a transfer.
#[derive(Command, Clone, Debug, PartialEq, Eq)]
#[command(aggregate = Transfer, expect = new)]
pub struct RequestTransfer {
    /// The transfer's id.
    #[id]
    pub transfer: String,
    /// The payer's account.
    pub from: String,
    /// The payee's account.
    pub to: String,
    /// Amount in cents.
    pub amount: i64,
}

impl Handle<RequestTransfer> for Transfer {
    fn handle(&self, command: &RequestTransfer) -> Result<Vec<TransferEvent>, TransferError> {
        if command.amount <= 0 {
            return Err(TransferError::NonPositiveAmount(command.amount));
        }
        if command.from == command.to {
            return Err(TransferError::SameAccount);
        }
        Ok(vec![
            TransferRequested {
                transfer: command.transfer.clone(),
                from: command.from.clone(),
                to: command.to.clone(),
                amount: command.amount,
            }
            .into(),
        ])
    }
}

/// The saga that moves the money: debit the payer (undone by a refund), credit the payee.
#[derive(Saga, Default, Serialize, Deserialize, Debug, PartialEq, Eq)]
#[saga(starts(TransferEvent::{Requested}), id = transfer)]
pub struct MoneyTransfer {
    /// The transfer's id.
    pub transfer: String,
    /// Amount in cents.
    pub amount: i64,
}

/// The steps of a transfer.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum TransferStep {
    /// Take the money from the payer.
    Debit {
        /// The payer's account.
        account: String,
        /// Amount in cents.
        amount: i64,
    },
    /// Give it to the payee.
    Credit {
        /// The payee's account.
        account: String,
        /// Amount in cents.
        amount: i64,
        /// The transfer, as the deposit's reference.
        reference: String,
    },
    /// Give it back to the payer (the compensation of `Debit`).
    Refund {
        /// The payer's account.
        account: String,
        /// Amount in cents.
        amount: i64,
        /// The transfer, as the deposit's reference.
        reference: String,
    },
}

impl React<TransferRequested> for MoneyTransfer {
    fn react(&mut self, event: Recorded<'_, TransferRequested>, plan: &mut Plan<TransferStep>) {
        self.transfer = event.transfer.clone();
        self.amount = event.amount;
        let reference = format!("transfer {}", event.transfer);
        plan.step(TransferStep::Debit {
            account: event.from.clone(),
            amount: event.amount,
        })
        .compensated_by(TransferStep::Refund {
            account: event.from.clone(),
            amount: event.amount,
            reference: format!("refund of {reference}"),
        });
        plan.step(TransferStep::Credit {
            account: event.to.clone(),
            amount: event.amount,
            reference,
        });
        plan.complete();
    }
}

#[annals::async_trait]
impl Steps for MoneyTransfer {
    type Step = TransferStep;
    type Services = ();

    async fn perform(
        step: &TransferStep,
        context: &StepContext<'_, ()>,
    ) -> Result<StepOutput, StepError> {
        match step {
            TransferStep::Debit { account, amount } => {
                context
                    .execute(Withdraw {
                        account: account.clone(),
                        amount: *amount,
                    })
                    .await
            }
            TransferStep::Credit {
                account,
                amount,
                reference,
            }
            | TransferStep::Refund {
                account,
                amount,
                reference,
            } => {
                context
                    .execute(Deposit {
                        account: account.clone(),
                        amount: *amount,
                        reference: reference.clone(),
                    })
                    .await
            }
        }
    }
}

/// The saga's name: its streams are `saga:money_transfer-{transfer}`.
pub const SAGA: &str = <MoneyTransfer as Saga>::NAME;
