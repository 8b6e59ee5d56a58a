//! Money transfers between accounts of the bank, by saga: debit the payer, credit the
//! payee; when the payee's account is closed, the payer is refunded. Each account command
//! is sent once under its step's idempotency key, so a runner that crashes and resumes
//! never moves money twice.
//!
//! ```text
//! cargo run --example transfers                       # SQLite file ./transfers.sqlite (a second run continues it)
//! cargo run --example transfers -- --db my.sqlite     # another file (or ANNALS_TRANSFERS_DB=my.sqlite)
//! cargo run --example transfers -- --memory           # the in-memory store
//! cargo run --example transfers -- --postgres [URL]   # PostgreSQL, schema `transfers_example`
//! ```

// Amounts are cents, written `dollars_cents` (100_00 is 100.00).
#![allow(clippy::inconsistent_digit_grouping)]

use std::process::ExitCode;
use std::time::Duration;

use annals::saga::{SagaRunner, SagaStatus, SagaView, Sagas};
use annals::store::{CheckpointStore, EventStore, SagaStore, SnapshotStore};
use annals::{CommandDispatcher, Repository};
use annals_examples::bank::{Account, Close, Deposit, Open};
use annals_examples::orders::money;
use annals_examples::store_choice::{Error, Example, ExampleStore, run_example};
use annals_examples::transfers::{MoneyTransfer, RequestTransfer, Transfer};

#[tokio::main]
async fn main() -> ExitCode {
    run_example(Transfers).await
}

struct Transfers;

impl Example for Transfers {
    const NAME: &'static str = "transfers";
    const FILE_VAR: &'static str = "ANNALS_TRANSFERS_DB";
    const FILE: &'static str = "transfers.sqlite";
    const SCHEMA: &'static str = "transfers_example";

    async fn run<St: ExampleStore>(self, store: St) -> Result<(), Error> {
        run(store).await
    }
}

async fn run<St>(store: St) -> Result<(), Error>
where
    St: EventStore + SnapshotStore + CheckpointStore + SagaStore + Clone,
{
    // Each run gets its own ids, so a second run on the same file continues it.
    let run = store.head_position().await?;
    let accounts = Repository::<Account, _>::new(store.clone());
    let transfers = Repository::<Transfer, _>::new(store.clone());
    let saga = SagaRunner::<MoneyTransfer, _>::new(
        store.clone(),
        CommandDispatcher::new().with_repository(accounts.clone()),
        (),
    )
    .spawn();
    let sagas = saga.sagas();

    let [alice, bob, carol] = ["alice", "bob", "carol"].map(|name| format!("{name}-{run}"));
    for owner in [&alice, &bob, &carol] {
        let open = Open {
            account: owner.clone(),
            owner: owner.clone(),
        };
        accounts.execute(open).await?;
    }
    let deposit = Deposit {
        account: alice.clone(),
        amount: 100_00,
        reference: "salary".into(),
    };
    accounts.execute(deposit).await?;
    accounts
        .execute(Close {
            account: carol.clone(),
        })
        .await?;
    println!("{alice} has 100.00; {bob} has nothing; {carol}'s account is closed.\n");

    let asked = [
        ("1", &alice, &bob, 30_00, "completes"),
        (
            "2",
            &alice,
            &carol,
            20_00,
            "cannot credit a closed account: refunded",
        ),
        (
            "3",
            &bob,
            &alice,
            50_00,
            "more than the payer has: nothing to undo",
        ),
    ];
    for (n, from, to, amount, what) in asked {
        let id = format!("transfer-{run}-{n}");
        println!("{n}. {from} sends {} to {to} ({what}).", money(amount));
        transfers
            .execute(RequestTransfer {
                transfer: id.clone(),
                from: from.clone(),
                to: to.clone(),
                amount,
            })
            .await?;
        let view = finished(&sagas, &id).await?;
        match &view.status {
            SagaStatus::Completed => println!("   completed"),
            SagaStatus::Compensated { cause } => println!("   compensated: {cause}"),
            other => println!("   {other:?}"),
        }
    }

    println!("\nBalances:");
    for owner in [&alice, &bob, &carol] {
        let account = accounts.load(owner).await?.state;
        println!("   {owner}: {}", money(account.balance));
    }
    saga.stop().await;
    Ok(())
}

/// Waits until transfer `id`'s saga is over.
async fn finished<St>(
    sagas: &Sagas<MoneyTransfer, St>,
    id: &str,
) -> Result<SagaView<MoneyTransfer>, Error>
where
    St: EventStore + SagaStore,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(view) = sagas.load(id).await?
            && view.status.is_finished()
        {
            return Ok(view);
        }
        if tokio::time::Instant::now() > deadline {
            return Err(format!("transfer {id} did not finish within 30 s").into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
