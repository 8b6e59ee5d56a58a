//! The order saga, end to end: a checkout creates the order, charges the payment,
//! reserves the stock and mails a confirmation. Three customers check out:
//!
//! 1. everything is in stock: the saga completes;
//! 2. a product is out of stock: the payment is refunded, then the order cancelled (last
//!    done, first undone), and the saga is compensated;
//! 3. out of stock again, while the payment provider cannot refund: the refund is tried 5
//!    times, then the saga waits in the intervention queue with its state and the error;
//!    once the provider is back an operator retries it, and it compensates to the end.
//!
//! The payment provider and the mail server are fakes in this process that act once per
//! idempotency key. Retry pauses are short here (50 ms, doubling) so the run is quick.
//!
//! ```text
//! cargo run --example checkout                       # SQLite file ./checkout.sqlite (a second run continues it)
//! cargo run --example checkout -- --db my.sqlite     # another file (or ANNALS_CHECKOUT_DB=my.sqlite)
//! cargo run --example checkout -- --memory           # the in-memory store
//! cargo run --example checkout -- --postgres [URL]   # PostgreSQL, schema `checkout_example`
//! ```

// Amounts are cents, written `units_cents` (12_99 is 12.99).
#![allow(clippy::inconsistent_digit_grouping)]

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use annals::saga::{
    Retries, SagaOptions, SagaRunner, SagaRunnerHandle, SagaStatus, SagaView, Sagas,
};
use annals::store::{CheckpointStore, EventStore, SagaStore, SnapshotStore};
use annals::{CommandDispatcher, Repository};
use annals_examples::checkout::{
    Checkout, CheckoutSaga, CheckoutServices, Mailer, PaymentError, PaymentGateway,
    RequestCheckout, Restock, Stock,
};
use annals_examples::orders::{Order, OrderLine, money};
use annals_examples::store_choice::{Error, Example, ExampleStore, run_example};

#[tokio::main]
async fn main() -> ExitCode {
    run_example(Shop).await
}

struct Shop;

impl Example for Shop {
    const NAME: &'static str = "checkout";
    const FILE_VAR: &'static str = "ANNALS_CHECKOUT_DB";
    const FILE: &'static str = "checkout.sqlite";
    const SCHEMA: &'static str = "checkout_example";

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
    let (book, lamp) = (format!("book-{run}"), format!("lamp-{run}"));

    let stock = Repository::<Stock, _>::new(store.clone());
    let orders = Repository::<Order, _>::new(store.clone());
    let checkouts = Repository::<Checkout, _>::new(store.clone());
    let payments = Arc::new(FakeGateway::default());
    let mail = Arc::new(FakeMailer::default());
    let saga = SagaRunner::<CheckoutSaga, _>::new(
        store.clone(),
        CommandDispatcher::new()
            .with_repository(orders.clone())
            .with_repository(stock.clone()),
        CheckoutServices {
            payments: payments.clone(),
            mailer: mail.clone(),
        },
    )
    .with_options(
        SagaOptions::default()
            .with_step_retries(Retries::new(3, Duration::from_millis(50)))
            .with_compensation_retries(Retries::new(5, Duration::from_millis(50))),
    )
    .spawn();
    let sagas = saga.sagas();

    println!("The shop has 10 × {book} at 12.99 and 1 × {lamp} at 45.00.\n");
    restock(&stock, &book, 10).await?;
    restock(&stock, &lamp, 1).await?;
    let books = |quantity| OrderLine::new(&book, quantity, 12_99);
    let lamps = |quantity| OrderLine::new(&lamp, quantity, 45_00);

    let ada = format!("ada-{run}");
    println!("1. {ada} buys 2 books.");
    checkout(&checkouts, &ada, vec![books(2)]).await?;
    let view = settled(&saga, &ada).await?;
    show(&view, &payments, &mail, &orders).await?;
    on_hand(&stock, [&book, &lamp]).await?;

    let bob = format!("bob-{run}");
    println!("2. {bob} buys a book and 2 lamps; there is one lamp.");
    checkout(&checkouts, &bob, vec![books(1), lamps(2)]).await?;
    let view = settled(&saga, &bob).await?;
    show(&view, &payments, &mail, &orders).await?;
    on_hand(&stock, [&book, &lamp]).await?;

    let cy = format!("cy-{run}");
    println!("3. {cy} buys 3 lamps, while the payment provider cannot refund.");
    payments.refunds_down.store(true, Ordering::SeqCst);
    checkout(&checkouts, &cy, vec![lamps(3)]).await?;
    let view = settled(&saga, &cy).await?;
    show(&view, &payments, &mail, &orders).await?;
    on_hand(&stock, [&book, &lamp]).await?;

    println!("   The intervention queue:");
    for stuck in sagas.stuck().await? {
        if let SagaStatus::Stuck { step, error, .. } = &stuck.status {
            println!(
                "   - {}: stuck on {step}: {error}; state {:?}",
                stuck.instance, stuck.state
            );
        }
    }
    println!("   The provider is back; an operator retries {cy}'s refund.");
    payments.refunds_down.store(false, Ordering::SeqCst);
    sagas.retry(&cy).await?;
    let view = settled(&saga, &cy).await?;
    show(&view, &payments, &mail, &orders).await?;
    on_hand(&stock, [&book, &lamp]).await?;

    saga.stop().await;
    Ok(())
}

/// Prints the units on hand of `skus`.
async fn on_hand<St: EventStore + SnapshotStore>(
    stock: &Repository<Stock, St>,
    skus: [&str; 2],
) -> Result<(), Error> {
    let mut shelf = Vec::new();
    for sku in skus {
        shelf.push(format!("{} × {sku}", stock.load(sku).await?.state.on_hand));
    }
    println!("   on the shelf: {}\n", shelf.join(", "));
    Ok(())
}

async fn restock<St: EventStore + SnapshotStore>(
    stock: &Repository<Stock, St>,
    sku: &str,
    quantity: u32,
) -> Result<(), Error> {
    let command = Restock {
        sku: sku.to_owned(),
        quantity,
    };
    stock.execute(command).await?;
    Ok(())
}

async fn checkout<St: EventStore + SnapshotStore>(
    checkouts: &Repository<Checkout, St>,
    customer: &str,
    lines: Vec<OrderLine>,
) -> Result<(), Error> {
    let command = RequestCheckout {
        checkout: customer.to_owned(),
        customer: customer.to_owned(),
        email: format!("{customer}@example.com"),
        lines,
    };
    checkouts.execute(command).await?;
    Ok(())
}

/// Waits until checkout `id`'s saga is over, or waits for an operator.
async fn settled<St>(
    saga: &SagaRunnerHandle<CheckoutSaga, St>,
    id: &str,
) -> Result<SagaView<CheckoutSaga>, Error>
where
    St: EventStore + CheckpointStore + SagaStore + Clone,
{
    let sagas: Sagas<CheckoutSaga, St> = saga.sagas();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(view) = sagas.load(id).await?
            && (view.status.is_finished() || matches!(view.status, SagaStatus::Stuck { .. }))
        {
            return Ok(view);
        }
        if tokio::time::Instant::now() > deadline {
            return Err(format!("checkout {id} did not settle within 30 s").into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn show<St: EventStore + SnapshotStore>(
    view: &SagaView<CheckoutSaga>,
    payments: &FakeGateway,
    mail: &FakeMailer,
    orders: &Repository<Order, St>,
) -> Result<(), Error> {
    let status = match &view.status {
        SagaStatus::Completed => "completed".to_owned(),
        SagaStatus::Compensated { cause } => format!("compensated ({cause})"),
        SagaStatus::Stuck { step, error, .. } => {
            format!("waiting for an operator: {step} {error}")
        }
        other => format!("{other:?}"),
    };
    println!("   saga: {status}");
    let order = orders.load(&view.instance).await?.state;
    println!(
        "   order: {:?}, total {}",
        order.status,
        money(order.total_cents)
    );
    for line in payments.history(&view.instance) {
        println!("   payments: {line}");
    }
    for line in mail.sent_to(&view.instance) {
        println!("   mail: {line}");
    }
    Ok(())
}

/// The payment provider: once per key; refunds fail while `refunds_down` is set.
#[derive(Default)]
struct FakeGateway {
    refunds_down: AtomicBool,
    /// By key: what was done, for which order.
    done: Mutex<HashMap<String, (String, String)>>,
    log: Mutex<Vec<(String, String)>>,
}

impl FakeGateway {
    fn once(&self, key: &str, order: &str, what: String) {
        let mut done = self.done.lock().unwrap();
        if !done.contains_key(key) {
            done.insert(key.to_owned(), (order.to_owned(), what.clone()));
            self.log.lock().unwrap().push((order.to_owned(), what));
        }
    }

    fn history(&self, order: &str) -> Vec<String> {
        let log = self.log.lock().unwrap();
        log.iter()
            .filter(|(of, _)| of == order)
            .map(|(_, what)| what.clone())
            .collect()
    }
}

#[annals::async_trait]
impl PaymentGateway for FakeGateway {
    async fn charge(
        &self,
        key: &str,
        customer: &str,
        order: &str,
        amount: i64,
    ) -> Result<String, PaymentError> {
        self.once(key, order, format!("charged {customer} {}", money(amount)));
        Ok(format!("pay-{order}"))
    }

    async fn refund(&self, key: &str, order: &str, amount: i64) -> Result<(), PaymentError> {
        if self.refunds_down.load(Ordering::SeqCst) {
            self.log
                .lock()
                .unwrap()
                .push((order.to_owned(), "refund failed: provider down".to_owned()));
            return Err(PaymentError::Unavailable("the provider is down".into()));
        }
        self.once(key, order, format!("refunded {}", money(amount)));
        Ok(())
    }
}

/// The mail server: once per key.
#[derive(Default)]
struct FakeMailer {
    sent: Mutex<HashMap<String, (String, String)>>,
}

impl FakeMailer {
    fn sent_to(&self, order: &str) -> Vec<String> {
        let sent = self.sent.lock().unwrap();
        sent.values()
            .filter(|(to, _)| to.starts_with(&format!("{order}@")))
            .map(|(to, subject)| format!("to {to}: {subject}"))
            .collect()
    }
}

#[annals::async_trait]
impl Mailer for FakeMailer {
    async fn send(&self, key: &str, to: &str, subject: &str) -> Result<(), String> {
        let mut sent = self.sent.lock().unwrap();
        sent.entry(key.to_owned())
            .or_insert_with(|| (to.to_owned(), subject.to_owned()));
        Ok(())
    }
}
