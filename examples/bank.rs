//! The bank account of the seeds, end to end: commands go through the repository, which
//! loads the account, lets it decide, appends the events with an expected-version check and
//! returns what was recorded. One account's history was written years ago at older schema
//! versions; it loads through the upcasters.
//!
//! Run with `cargo run --example bank`.

use annals::{
    Aggregate, CommandError, EventFilter, EventStore, ExpectedVersion, InMemoryStore, Metadata, NewEvent,
    Repository, SnapshotPolicy,
};
use annals_examples::bank::{Account, AccountCommand, AccountEvent, BankError, Close, Deposit, Open, Withdraw};

type Accounts = Repository<Account, InMemoryStore>;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let store = InMemoryStore::new();
    let accounts = Repository::<Account, _>::new(store.clone()).with_snapshots(SnapshotPolicy::EveryNEvents(3));
    println!("annals bank: an event-sourced account on the in-memory store\n");

    let story: Vec<AccountCommand> = vec![
        Open { account: "alice".into(), owner: "Alice".into() }.into(),
        Deposit { account: "alice".into(), amount: 100_00, reference: "salary".into() }.into(),
        Withdraw { account: "alice".into(), amount: 30_00 }.into(),
        Withdraw { account: "alice".into(), amount: 500_00 }.into(),
        Close { account: "alice".into() }.into(),
        Withdraw { account: "alice".into(), amount: 70_00 }.into(),
        Close { account: "alice".into() }.into(),
        Deposit { account: "alice".into(), amount: 5_00, reference: "late refund".into() }.into(),
        Deposit { account: "nobody".into(), amount: 1_00, reference: "typo".into() }.into(),
    ];
    for command in story {
        run(&accounts, command).await?;
    }

    println!("\nAlice's account through time:");
    for version in 1..=5 {
        let then = accounts.load_at_version("alice", version).await?;
        println!("  after event {version}: balance {}, closed: {}", money(then.state.balance), then.state.closed);
    }

    println!("\nBob's account was opened in 2019, when events were stored at schema version 1:");
    write_legacy_history(&store).await?;
    for recorded in store.read_stream("account-bob", 1, usize::MAX).await? {
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
    println!("  loaded  owner {:?}, balance {} (upcast to the current versions)", bob.state.owner, money(bob.state.balance));
    run(&accounts, Deposit { account: "bob".into(), amount: 10_00, reference: "birthday".into() }.into()).await?;

    let deposits = store.read_all(1, usize::MAX, &EventFilter::types(["Deposited"])).await?;
    println!("\nEvery deposit in the global log ({} of {} events):", deposits.len(), store.head_position().await?);
    for recorded in &deposits {
        let event = <AccountEvent as annals::Event>::decode_recorded(recorded)?;
        println!("  #{} {} {event:?}", recorded.position, recorded.stream_id);
    }
    Ok(())
}

/// Runs one command and prints what happened.
async fn run(accounts: &Accounts, command: AccountCommand) -> Result<(), Box<dyn std::error::Error>> {
    println!("> {command:?}");
    let id = annals::Command::aggregate_id(&command);
    match accounts.execute(command).await {
        Ok(outcome) => {
            for envelope in &outcome.events {
                println!("  recorded #{} {}@{} {:?}", envelope.position, envelope.stream_id, envelope.stream_version, envelope.event);
            }
            let account = accounts.load(&id).await?;
            let snapshot = account.snapshot_version.map(|v| format!(" (loaded from the snapshot at {v})")).unwrap_or_default();
            println!("  balance {}{snapshot}", money(account.state.balance));
        }
        Err(CommandError::Rejected(error)) => println!("  rejected: {}", explain(&error)),
        Err(CommandError::NotFound { stream_id }) => println!("  rejected: there is no account `{stream_id}`"),
        Err(other) => return Err(other.into()),
    }
    Ok(())
}

fn explain(error: &BankError) -> String {
    match error {
        BankError::InsufficientFunds { balance, requested } => {
            format!("insufficient funds: {} asked, {} available", money(*requested), money(*balance))
        }
        BankError::BalanceNotZero(balance) => format!("cannot close an account holding {}", money(*balance)),
        other => other.to_string(),
    }
}

/// Events as an older release of this program wrote them: `Opened` called the holder `name`,
/// and `Deposited` had no reference.
async fn write_legacy_history(store: &InMemoryStore) -> Result<(), annals::StoreError> {
    let legacy = |event_type: &str, payload: &str| NewEvent::new(event_type, 1, payload.as_bytes().to_vec(), Metadata::default());
    store
        .append(
            &Account::stream_id("bob"),
            ExpectedVersion::NoStream,
            vec![legacy("Opened", r#"{"name":"Bob"}"#), legacy("Deposited", r#"{"amount":2500}"#)],
        )
        .await?;
    Ok(())
}

fn money(cents: i64) -> String {
    format!("{}{}.{:02}", if cents < 0 { "-" } else { "" }, cents.abs() / 100, cents.abs() % 100)
}
