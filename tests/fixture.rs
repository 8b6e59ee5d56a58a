//! The given/when/then fixture (`annals::testing::AggregateFixture`): each assertion passes
//! on the right decision, and fails with a message that says what was decided and what was
//! expected.

use annals::testing::AggregateFixture;
use annals::{Aggregate, Apply, Command, Event, Handle};
use annals_examples::bank::{
    Account, AccountCommand, AccountEvent, BankError, Close, Closed, Deposit, Deposited, Open,
    Opened, Withdraw, Withdrawn,
};
use serde::{Deserialize, Serialize};

fn opened() -> Opened {
    Opened {
        owner: "Ada".into(),
    }
}

fn deposited(amount: i64) -> Deposited {
    Deposited {
        amount,
        reference: String::new(),
    }
}

fn withdraw(amount: i64) -> Withdraw {
    Withdraw {
        account: "a".into(),
        amount,
    }
}

/// An account opened by Ada holding `balance`.
fn account_holding(balance: i64) -> AggregateFixture<Account> {
    AggregateFixture::<Account>::given([opened()]).and([deposited(balance)])
}

// ---------------------------------------------------------------------------------------
// Passing expectations
// ---------------------------------------------------------------------------------------

/// `then_events` passes when the command records exactly the expected events.
#[test]
fn then_events_passes_on_the_recorded_events() {
    account_holding(100)
        .when(withdraw(30))
        .then_events([Withdrawn { amount: 30 }]);
}

/// `then_events` accepts the event enum too, and a command enum routes to the handler.
#[test]
fn then_events_with_event_enum_and_command_enum() {
    AggregateFixture::<Account>::given_no_events()
        .when(AccountCommand::from(Open {
            account: "a".into(),
            owner: "Ada".into(),
        }))
        .then_events([AccountEvent::Opened(opened())]);
}

/// `given` takes events of several types as the event enum; `and` adds more of any type.
#[test]
fn given_mixes_event_types() {
    AggregateFixture::<Account>::given([
        AccountEvent::from(opened()),
        deposited(10).into(),
        Withdrawn { amount: 10 }.into(),
    ])
    .and([Closed {}])
    .when(Deposit {
        account: "a".into(),
        amount: 5,
        reference: String::new(),
    })
    .then_error(BankError::Closed);
}

/// `then_error` passes when the command is rejected with exactly that error.
#[test]
fn then_error_passes_on_the_domain_error() {
    account_holding(10)
        .when(withdraw(11))
        .then_error(BankError::InsufficientFunds {
            balance: 10,
            requested: 11,
        });
}

/// `then_error_matches` passes when the predicate accepts the error.
#[test]
fn then_error_matches_passes_when_the_predicate_accepts() {
    account_holding(10)
        .when(Close {
            account: "a".into(),
        })
        .then_error_matches(|error| matches!(error, BankError::BalanceNotZero(10)));
}

/// `then_no_events` passes when the command is accepted and records nothing.
#[test]
fn then_no_events_passes_on_an_empty_decision() {
    AggregateFixture::<Lamp>::given([SwitchedOn {}])
        .when(SwitchOn { lamp: "l".into() })
        .then_no_events();
}

/// `then_state` sees the given events and the recorded ones applied.
#[test]
fn then_state_sees_given_and_recorded_events() {
    account_holding(100)
        .when(withdraw(30))
        .then_state(|account| {
            assert_eq!(account.owner, "Ada");
            assert_eq!(account.balance, 70);
        });
}

/// Expectations chain: events, then the state they lead to.
#[test]
fn expectations_chain() {
    AggregateFixture::<Account>::given([opened()])
        .when(withdraw(0))
        .then_error(BankError::NonPositiveAmount(0))
        .then_error_matches(|e| e.to_string().contains("positive"));
    account_holding(5)
        .when(withdraw(5))
        .then_events([Withdrawn { amount: 5 }])
        .then_state(|account| assert_eq!(account.balance, 0));
}

/// The fixture tests the decision alone: no expected-stream rule applies, so a deposit
/// with no past events is decided on the default state.
#[test]
fn fixture_ignores_the_expected_stream_rule() {
    AggregateFixture::<Account>::given_no_events()
        .when(Deposit {
            account: "a".into(),
            amount: 5,
            reference: "r".into(),
        })
        .then_events([Deposited {
            amount: 5,
            reference: "r".into(),
        }]);
}

/// `into_result` hands back the raw decision.
#[test]
fn into_result_is_the_raw_decision() {
    let result = account_holding(1).when(withdraw(2)).into_result();
    assert_eq!(
        result,
        Err(BankError::InsufficientFunds {
            balance: 1,
            requested: 2
        })
    );
}

// ---------------------------------------------------------------------------------------
// Failing expectations panic with a readable message
// ---------------------------------------------------------------------------------------

/// Other events than expected: the message names the command, the number of given events,
/// and both lists.
#[test]
#[should_panic(
    expected = "Withdraw after 2 given events recorded\n  [Withdrawn(Withdrawn { amount: 30 })]\nexpected\n  [Withdrawn(Withdrawn { amount: 31 })]"
)]
fn then_events_fails_on_other_events() {
    account_holding(100)
        .when(withdraw(30))
        .then_events([Withdrawn { amount: 31 }]);
}

/// Events expected but the command was rejected: the message gives the domain error.
#[test]
#[should_panic(
    expected = "Withdraw after 2 given events was rejected: insufficient funds: balance 10, requested 30"
)]
fn then_events_fails_on_a_rejection() {
    account_holding(10)
        .when(withdraw(30))
        .then_events([Withdrawn { amount: 30 }]);
}

/// A command enum is named after the command it routes to.
#[test]
#[should_panic(
    expected = "Close after 2 given events was rejected: cannot close an account holding 10"
)]
fn failure_names_the_routed_command() {
    account_holding(10)
        .when(AccountCommand::from(Close {
            account: "a".into(),
        }))
        .then_events([Closed {}]);
}

/// An error expected but the command was accepted: the message lists what it recorded.
#[test]
#[should_panic(
    expected = "Withdraw was accepted, recording\n  [Withdrawn(Withdrawn { amount: 5 })]\nexpected the error\n  Closed"
)]
fn then_error_fails_on_acceptance() {
    account_holding(10)
        .when(withdraw(5))
        .then_error(BankError::Closed);
}

/// Another error than expected: the message shows both.
#[test]
#[should_panic(
    expected = "Withdraw was rejected with\n  NonPositiveAmount(-1)\nexpected\n  InsufficientFunds { balance: 10, requested: -1 }"
)]
fn then_error_fails_on_another_error() {
    account_holding(10)
        .when(withdraw(-1))
        .then_error(BankError::InsufficientFunds {
            balance: 10,
            requested: -1,
        });
}

/// A predicate that rejects the error: the message gives the error.
#[test]
#[should_panic(
    expected = "Close was rejected with an unexpected error: cannot close an account holding 10"
)]
fn then_error_matches_fails_when_the_predicate_rejects() {
    account_holding(10)
        .when(Close {
            account: "a".into(),
        })
        .then_error_matches(|error| matches!(error, BankError::Closed));
}

/// A predicate expected an error but the command was accepted.
#[test]
#[should_panic(
    expected = "Withdraw was accepted, recording\n  [Withdrawn(Withdrawn { amount: 1 })]\nexpected an error"
)]
fn then_error_matches_fails_on_acceptance() {
    account_holding(10)
        .when(withdraw(1))
        .then_error_matches(|_| true);
}

/// No events expected but some were recorded: the message lists them.
#[test]
#[should_panic(
    expected = "SwitchOn after 0 given events recorded\n  [SwitchedOn(SwitchedOn)]\nexpected\n  []"
)]
fn then_no_events_fails_when_events_are_recorded() {
    AggregateFixture::<Lamp>::given_no_events()
        .when(SwitchOn { lamp: "l".into() })
        .then_no_events();
}

/// A state check after a rejection: the message says why the state cannot be checked.
#[test]
#[should_panic(expected = "Withdraw was rejected: the account is closed; cannot check the state")]
fn then_state_fails_on_a_rejection() {
    AggregateFixture::<Account>::given([AccountEvent::from(opened()), Closed {}.into()])
        .when(withdraw(1))
        .then_state(|_| {});
}

/// A failing assertion inside `then_state` propagates as the test's failure.
#[test]
#[should_panic(expected = "balance after withdrawal")]
fn then_state_propagates_the_check_failure() {
    account_holding(10)
        .when(withdraw(1))
        .then_state(|account| assert_eq!(account.balance, 10, "balance after withdrawal"));
}

// ---------------------------------------------------------------------------------------
// A tiny local domain with a command that may record nothing.
// ---------------------------------------------------------------------------------------

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct SwitchedOn {}

#[derive(Event, Clone, Debug, PartialEq)]
enum LampEvent {
    SwitchedOn(SwitchedOn),
}

#[derive(Debug, PartialEq, thiserror::Error)]
#[error("lamps never refuse")]
struct LampError;

#[derive(Aggregate, Default, Clone)]
#[aggregate(event = LampEvent, error = LampError)]
struct Lamp {
    on: bool,
}

impl Apply<SwitchedOn> for Lamp {
    fn apply(&mut self, _: &SwitchedOn) {
        self.on = true;
    }
}

/// Switch the lamp on; a lamp that is already on records nothing.
#[derive(Command)]
#[command(aggregate = Lamp, expect = any)]
struct SwitchOn {
    #[id]
    lamp: String,
}

impl Handle<SwitchOn> for Lamp {
    fn handle(&self, _: &SwitchOn) -> Result<Vec<LampEvent>, LampError> {
        if self.on {
            Ok(Vec::new())
        } else {
            Ok(vec![SwitchedOn {}.into()])
        }
    }
}
