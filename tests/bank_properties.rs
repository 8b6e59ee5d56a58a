//! Properties of the bank domain run through the repository: random command sequences agree
//! with a plain model of the bank's rules, whatever the snapshot interval; and every old
//! stored form of an event decodes to the same value as its current form.

use annals::store::{EventStore, InMemoryStore};
use annals::{CommandError, Event, Loaded, Repository, SnapshotPolicy};
use annals_examples::bank::{
    Account, AccountCommand, AccountEvent, BankError, Close, Deposit, Deposited, DepositedV1, Open,
    Opened, Withdraw,
};
use proptest::prelude::*;

const ACCOUNT: &str = "prop";

/// One step of a random scenario. Amounts include zero and negatives (rejected), and
/// withdrawals above the balance (rejected).
#[derive(Clone, Debug)]
enum Op {
    Open,
    Deposit(i64),
    Withdraw(i64),
    /// Withdraws the whole balance (by the model's count), so `Close` can succeed.
    WithdrawAll,
    Close,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => Just(Op::Open),
        4 => (-5i64..100).prop_map(Op::Deposit),
        3 => (-5i64..150).prop_map(Op::Withdraw),
        1 => Just(Op::WithdrawAll),
        1 => Just(Op::Close),
    ]
}

/// What the repository should answer to one command.
#[derive(Debug, PartialEq)]
enum Expected {
    Recorded,
    Rejected(BankError),
    NotFound,
    AlreadyExists,
}

/// The bank's rules written out by hand, independently of the aggregate.
#[derive(Debug, Default)]
struct Model {
    version: u64,
    owner: String,
    balance: i64,
    closed: bool,
}

impl Model {
    /// The command for `op` (the `step`-th one) and what the bank must answer.
    fn step(&mut self, step: usize, op: &Op) -> (AccountCommand, Expected) {
        let account = ACCOUNT.to_owned();
        let exists = self.version > 0;
        let (command, expected) = match *op {
            Op::Open => {
                let owner = format!("owner {step}");
                let expected = if exists {
                    Expected::AlreadyExists
                } else {
                    self.owner.clone_from(&owner);
                    Expected::Recorded
                };
                (Open { account, owner }.into(), expected)
            }
            Op::Deposit(amount) => {
                let expected = if !exists {
                    Expected::NotFound
                } else if self.closed {
                    Expected::Rejected(BankError::Closed)
                } else if amount <= 0 {
                    Expected::Rejected(BankError::NonPositiveAmount(amount))
                } else {
                    self.balance += amount;
                    Expected::Recorded
                };
                let reference = format!("step {step}");
                (
                    Deposit {
                        account,
                        amount,
                        reference,
                    }
                    .into(),
                    expected,
                )
            }
            Op::Withdraw(_) | Op::WithdrawAll => {
                let amount = match *op {
                    Op::Withdraw(amount) => amount,
                    _ => self.balance,
                };
                let expected = if !exists {
                    Expected::NotFound
                } else if self.closed {
                    Expected::Rejected(BankError::Closed)
                } else if amount <= 0 {
                    Expected::Rejected(BankError::NonPositiveAmount(amount))
                } else if amount > self.balance {
                    Expected::Rejected(BankError::InsufficientFunds {
                        balance: self.balance,
                        requested: amount,
                    })
                } else {
                    self.balance -= amount;
                    Expected::Recorded
                };
                (Withdraw { account, amount }.into(), expected)
            }
            Op::Close => {
                let expected = if !exists {
                    Expected::NotFound
                } else if self.closed {
                    Expected::Rejected(BankError::Closed)
                } else if self.balance != 0 {
                    Expected::Rejected(BankError::BalanceNotZero(self.balance))
                } else {
                    self.closed = true;
                    Expected::Recorded
                };
                (Close { account }.into(), expected)
            }
        };
        if expected == Expected::Recorded {
            self.version += 1;
        }
        (command, expected)
    }
}

fn answer(result: Result<u64, CommandError<BankError>>) -> Result<Expected, String> {
    match result {
        Ok(_) => Ok(Expected::Recorded),
        Err(CommandError::Rejected(error)) => Ok(Expected::Rejected(error)),
        Err(CommandError::NotFound { .. }) => Ok(Expected::NotFound),
        Err(CommandError::AlreadyExists { .. }) => Ok(Expected::AlreadyExists),
        Err(other) => Err(format!("unexpected error: {other:?}")),
    }
}

/// Runs `ops` through a repository snapshotting every `k` events; returns the model and
/// what the repository loads with and without snapshots.
fn run_scenario(
    ops: &[Op],
    k: u64,
) -> Result<(Model, Loaded<Account>, Loaded<Account>), TestCaseError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        let store = InMemoryStore::new();
        let accounts = Repository::<Account, _>::new(store.clone())
            .with_snapshots(SnapshotPolicy::EveryNEvents(k));
        let mut model = Model::default();
        for (step, op) in ops.iter().enumerate() {
            let (command, expected) = model.step(step, op);
            let result = accounts
                .execute(command)
                .await
                .map(|outcome| outcome.stream_version);
            if let Ok(version) = &result {
                prop_assert_eq!(*version, model.version, "step {}: {:?}", step, op);
            }
            let actual = answer(result).map_err(TestCaseError::fail)?;
            prop_assert_eq!(actual, expected, "step {}: {:?}", step, op);
        }
        prop_assert_eq!(
            store.stream_version("account-prop").await.unwrap(),
            model.version
        );
        let loaded = accounts.load(ACCOUNT).await.unwrap();
        let rebuilt = accounts.load_from_events(ACCOUNT).await.unwrap();
        Ok((model, loaded, rebuilt))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the commands and the snapshot interval, snapshot + tail, the full replay and
    /// the hand-written model agree, and every command is answered as the model says.
    #[test]
    fn repository_agrees_with_the_model(
        ops in proptest::collection::vec(op(), 0..40),
        k in 1u64..5,
    ) {
        let (model, loaded, rebuilt) = run_scenario(&ops, k)?;

        prop_assert_eq!(&loaded.state, &rebuilt.state);
        prop_assert_eq!(loaded.version, model.version);
        prop_assert_eq!(rebuilt.version, model.version);
        prop_assert_eq!(rebuilt.snapshot_version, None);
        // Every accepted bank command records one event, so the last snapshot is at the
        // last multiple of k.
        let snapshot = (model.version >= k).then_some(model.version / k * k);
        prop_assert_eq!(loaded.snapshot_version, snapshot);

        prop_assert_eq!(&loaded.state.owner, &model.owner);
        prop_assert_eq!(loaded.state.balance, model.balance);
        prop_assert_eq!(loaded.state.closed, model.closed);
    }

    /// A stored `Deposited` v1 decodes to the same event as the current form of its
    /// `From` conversion.
    #[test]
    fn deposited_v1_decodes_like_its_current_form(amount in any::<i64>()) {
        let v1 = DepositedV1 { amount };
        let current = Deposited::from(v1.clone());
        let encoded = AccountEvent::from(current.clone()).encode().unwrap();
        prop_assert_eq!(encoded.schema_version, 2);

        let from_v1 =
            AccountEvent::decode("Deposited", 1, &serde_json::to_vec(&v1).unwrap()).unwrap();
        let from_v2 = AccountEvent::decode("Deposited", 2, &encoded.payload).unwrap();
        prop_assert_eq!(&from_v1, &from_v2);
        prop_assert_eq!(from_v2, AccountEvent::Deposited(current));
    }

    /// A stored `Opened` v1 (`{"name": ...}`) decodes to the same event as the current
    /// form (`{"owner": ...}`), for any name.
    #[test]
    fn opened_v1_decodes_like_its_current_form(name in any::<String>()) {
        let v1 = serde_json::to_vec(&serde_json::json!({ "name": name })).unwrap();
        let current = Opened { owner: name };
        let encoded = AccountEvent::from(current.clone()).encode().unwrap();
        prop_assert_eq!(encoded.schema_version, 2);

        let from_v1 = AccountEvent::decode("Opened", 1, &v1).unwrap();
        let from_v2 = AccountEvent::decode("Opened", 2, &encoded.payload).unwrap();
        prop_assert_eq!(&from_v1, &from_v2);
        prop_assert_eq!(from_v2, AccountEvent::Opened(current));
    }
}
