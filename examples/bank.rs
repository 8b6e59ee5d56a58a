//! A bank account, end to end: commands go through the repository, which
//! loads the account, lets it decide, appends the events with an expected-version check and
//! returns what was recorded. One account's history was written by an older release at older
//! schema versions; it loads through the upcasters.
//!
//! ```text
//! cargo run --example bank                    # SQLite file ./bank.sqlite (a second run continues it)
//! cargo run --example bank -- --db my.sqlite  # another file (or ANNALS_BANK_DB=my.sqlite)
//! cargo run --example bank -- --memory        # the in-memory store
//! ```

// Amounts are cents, written `dollars_cents` (100_00 is 100.00).
#![allow(clippy::inconsistent_digit_grouping)]

use std::collections::BTreeMap;

use annals::store::SqliteStore;
use annals::store::{
    EventFilter, EventStore, ExpectedVersion, InMemoryStore, Metadata, NewEvent, SnapshotStore,
};
use annals::{Aggregate, CommandError, Event, Repository, SnapshotPolicy};
use annals_examples::bank::{
    Account, AccountCommand, AccountEvent, BankError, Close, Deposit, Open, Withdraw,
};

type Error = Box<dyn std::error::Error>;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let mut db = std::env::var("ANNALS_BANK_DB").unwrap_or_else(|_| "bank.sqlite".to_owned());
    let mut memory = false;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--memory" => memory = true,
            "--db" => db = args.next().ok_or("--db needs a file name")?,
            other => {
                return Err(
                    format!("unknown argument `{other}`; use --db FILE or --memory").into(),
                );
            }
        }
    }
    if memory {
        println!("annals bank, on the in-memory store\n");
        run_bank(InMemoryStore::new()).await
    } else {
        println!("annals bank, on the SQLite file {db}\n");
        run_bank(SqliteStore::open(&db)?).await
    }
}

async fn run_bank<S: EventStore + SnapshotStore + Clone>(store: S) -> Result<(), Error> {
    let accounts = Repository::<Account, _>::new(store.clone())
        .with_snapshots(SnapshotPolicy::EveryNEvents(3));
    let run = show_history(&store, &accounts).await?;

    // This run's customer: a new account each run, so a second run continues the file.
    let alice = format!("alice-{run}");
    println!("Run {run}: {alice} opens an account, saves, overdraws, and closes it.");
    let story: Vec<AccountCommand> = vec![
        Open {
            account: alice.clone(),
            owner: "Alice".into(),
        }
        .into(),
        Deposit {
            account: alice.clone(),
            amount: 100_00,
            reference: "salary".into(),
        }
        .into(),
        Withdraw {
            account: alice.clone(),
            amount: 30_00,
        }
        .into(),
        Withdraw {
            account: alice.clone(),
            amount: 500_00,
        }
        .into(),
        Close {
            account: alice.clone(),
        }
        .into(),
        Withdraw {
            account: alice.clone(),
            amount: 70_00,
        }
        .into(),
        Close {
            account: alice.clone(),
        }
        .into(),
        Deposit {
            account: alice.clone(),
            amount: 5_00,
            reference: "late refund".into(),
        }
        .into(),
        Open {
            account: alice.clone(),
            owner: "Alice again".into(),
        }
        .into(),
        Deposit {
            account: "nobody".into(),
            amount: 1_00,
            reference: "typo".into(),
        }
        .into(),
    ];
    for command in story {
        execute(&accounts, command).await?;
    }

    println!("\n{alice} through time (temporal loads):");
    for version in 1..=5 {
        let then = accounts.load_at_version(&alice, version).await?;
        println!(
            "  after event {version}: balance {}, closed: {}",
            money(then.state.balance),
            then.state.closed
        );
    }

    if write_legacy_history(&store).await? {
        println!(
            "\nBob's account was opened by a 2019 release, which stored events at schema version 1:"
        );
        for recorded in store
            .read_stream(&Account::stream_id("bob"), 1, usize::MAX)
            .await?
        {
            println!(
                "  stored  {}@{} {} v{} {}",
                recorded.stream_id,
                recorded.stream_version,
                recorded.event_type,
                recorded.schema_version,
                String::from_utf8_lossy(&recorded.payload)
            );
        }
        let bob = accounts.load("bob").await?;
        println!(
            "  loaded  owner {:?}, balance {} (both upcast to the current versions)",
            bob.state.owner,
            money(bob.state.balance)
        );
    }
    execute(
        &accounts,
        Deposit {
            account: "bob".into(),
            amount: 10_00,
            reference: format!("gift from {alice}"),
        }
        .into(),
    )
    .await?;

    let deposits = store
        .read_all(0, usize::MAX, &EventFilter::types(["Deposited"]))
        .await?;
    println!(
        "\nThe last deposits in the global log ({} deposits of {} events):",
        deposits.len(),
        store.head_position().await?
    );
    for recorded in deposits.iter().rev().take(5).rev() {
        let event = AccountEvent::decode_recorded(recorded)?;
        println!("  #{} {} {event:?}", recorded.position, recorded.stream_id);
    }
    Ok(())
}

/// Prints what an earlier run left in the store, and returns this run's number.
async fn show_history<S: EventStore + SnapshotStore>(
    store: &S,
    accounts: &Repository<Account, S>,
) -> Result<usize, Error> {
    let opened = store
        .read_all(0, usize::MAX, &EventFilter::types(["Opened"]))
        .await?;
    let head = store.head_position().await?;
    if head == 0 {
        println!("The store is empty: this is the first run.\n");
        return Ok(1);
    }
    println!(
        "Found {head} events from earlier runs, in {} accounts:",
        opened.len()
    );
    let mut runs = 0;
    let mut seen = BTreeMap::new();
    for recorded in &opened {
        let id = recorded.stream_id.trim_start_matches("account-").to_owned();
        runs += usize::from(id.starts_with("alice-"));
        let account = accounts.load(&id).await?;
        seen.insert(id, account);
    }
    for (id, account) in &seen {
        let status = if account.state.closed {
            "closed"
        } else {
            "open"
        };
        println!(
            "  {id:<10} {:<8} {:>8}  ({} events)",
            status,
            money(account.state.balance),
            account.version
        );
    }
    println!();
    Ok(runs + 1)
}

/// Runs one command and prints what happened.
async fn execute<S: EventStore + SnapshotStore>(
    accounts: &Repository<Account, S>,
    command: AccountCommand,
) -> Result<(), Error> {
    println!("> {command:?}");
    let id = annals::Command::aggregate_id(&command);
    match accounts.execute(command).await {
        Ok(outcome) => {
            for envelope in &outcome.events {
                println!(
                    "  recorded #{} {}@{} {:?}",
                    envelope.position, envelope.stream_id, envelope.stream_version, envelope.event
                );
            }
            let account = accounts.load(&id).await?;
            let snapshot = account
                .snapshot_version
                .map(|v| format!(" (loaded from the snapshot at {v})"))
                .unwrap_or_default();
            println!("  balance {}{snapshot}", money(account.state.balance));
        }
        Err(CommandError::Rejected(error)) => println!("  rejected: {}", explain(&error)),
        Err(CommandError::NotFound { stream_id }) => {
            println!("  rejected: there is no account `{stream_id}`")
        }
        Err(CommandError::AlreadyExists { stream_id, .. }) => {
            println!("  rejected: `{stream_id}` is already open")
        }
        Err(other) => return Err(other.into()),
    }
    Ok(())
}

fn explain(error: &BankError) -> String {
    match error {
        BankError::InsufficientFunds { balance, requested } => {
            format!(
                "insufficient funds: {} asked, {} available",
                money(*requested),
                money(*balance)
            )
        }
        BankError::BalanceNotZero(balance) => {
            format!("cannot close an account holding {}", money(*balance))
        }
        other => other.to_string(),
    }
}

/// Writes Bob's account as an older release of this program did, once: `Opened` called the
/// holder `name`, and `Deposited` had no reference. Returns whether it wrote anything.
async fn write_legacy_history<S: EventStore>(store: &S) -> Result<bool, Error> {
    let legacy = |event_type: &str, payload: &str| {
        NewEvent::new(
            event_type,
            1,
            payload.as_bytes().to_vec(),
            Metadata::default(),
        )
    };
    let events = vec![
        legacy("Opened", r#"{"name":"Bob"}"#),
        legacy("Deposited", r#"{"amount":2500}"#),
    ];
    match store
        .append(
            &Account::stream_id("bob"),
            ExpectedVersion::NoStream,
            events,
        )
        .await
    {
        Ok(_) => Ok(true),
        Err(error) if error.is_conflict() => Ok(false),
        Err(error) => Err(error.into()),
    }
}

fn money(cents: i64) -> String {
    format!(
        "{}{}.{:02}",
        if cents < 0 { "-" } else { "" },
        cents.abs() / 100,
        cents.abs() % 100
    )
}
