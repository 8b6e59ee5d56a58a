//! An order system, end to end: commands change orders through the
//! repository, and three read models (what customers see, sales analytics, the warehouse's
//! shipping queue) follow the global log side by side on one projection runner. They are
//! eventually consistent: each command returns its position, and a reader that must see its
//! own write waits for the projection to reach it.
//!
//! The read models live in memory, so on every start they catch up from the beginning of
//! the log; the orders themselves are in the store, and a second run continues them.
//!
//! ```text
//! cargo run --example orders                       # SQLite file ./orders.sqlite (a second run continues it)
//! cargo run --example orders -- --db my.sqlite     # another file (or ANNALS_ORDERS_DB=my.sqlite)
//! cargo run --example orders -- --memory           # the in-memory store
//! cargo run --example orders -- --postgres [URL]   # PostgreSQL, schema `orders_example`
//!                                                  # (URL: DATABASE_URL, or postgres://postgres@127.0.0.1:5432/postgres)
//! ```

// Amounts are cents, written `units_cents` (39_90 is 39.90).
#![allow(clippy::inconsistent_digit_grouping)]

use std::fmt::Display;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use annals::projection::{ProjectionHandle, ProjectionRunner};
use annals::store::{EventFilter, EventStore, SnapshotStore};
use annals::{Command, CommandError, Projection, Repository};
use annals_examples::orders::{
    CancelOrder, Order, OrderError, OrderLine, OrderSummary, PayOrder, PlaceOrder, SaleStatus,
    SalesAnalytics, ShipOrder, ShippingQueue, money,
};
use annals_examples::store_choice::{Error, Example, ExampleStore, run_example};

/// How long a reader waits for a projection to reach its own write.
const WAIT: Duration = Duration::from_secs(10);

#[tokio::main]
async fn main() -> ExitCode {
    run_example(Orders).await
}

struct Orders;

impl Example for Orders {
    const NAME: &'static str = "orders";
    const FILE_VAR: &'static str = "ANNALS_ORDERS_DB";
    const FILE: &'static str = "orders.sqlite";
    const SCHEMA: &'static str = "orders_example";

    async fn run<St: ExampleStore>(self, store: St) -> Result<(), Error> {
        run_orders(store).await
    }
}

/// The three read models, running side by side on one runner.
struct ReadModels {
    summary: ProjectionHandle<OrderSummary>,
    sales: ProjectionHandle<SalesAnalytics>,
    shipping: ProjectionHandle<ShippingQueue>,
}

impl ReadModels {
    /// Read-your-writes: waits until all three have handled everything appended so far
    /// (`position` is the last write's, for the error message).
    async fn wait_for(&self, position: u64) -> Result<(), Error> {
        self.summary.wait_for(position, WAIT).await?;
        self.sales.wait_for(position, WAIT).await?;
        self.shipping.wait_for(position, WAIT).await?;
        Ok(())
    }
}

async fn run_orders<S>(store: S) -> Result<(), Error>
where
    S: EventStore + SnapshotStore + Clone,
{
    let orders = Repository::<Order, _>::new(store.clone());

    // The orders of earlier runs are in the store; this run numbers its orders after them.
    let earlier = store
        .read_all(0, usize::MAX, &EventFilter::types(["OrderPlaced"]))
        .await?
        .len();
    let head = store.head_position().await?;
    if head == 0 {
        println!("The store is empty: this is the first run.");
    } else {
        println!("Found {earlier} orders from earlier runs ({head} events in the log).");
    }

    // The read models are in memory: they start empty and catch up from the start of the log.
    let runner = ProjectionRunner::new(store.clone());
    let started = Instant::now();
    let models = ReadModels {
        summary: runner.spawn(OrderSummary::default()),
        sales: runner.spawn(SalesAnalytics::default()),
        shipping: runner.spawn(ShippingQueue::default()),
    };
    models.wait_for(head).await?;
    println!("The projections caught up in {:.0?}:", started.elapsed());
    print_caught_up(&models.summary, "every order event");
    print_caught_up(
        &models.sales,
        "OrderPlaced, OrderPaid and OrderCancelled only",
    );
    print_caught_up(&models.shipping, "every order event");

    let id = |n: usize| format!("o-{:04}", earlier + n);
    let (ada, grace, linus, barbara, ada_again) = (id(1), id(2), id(3), id(4), id(5));

    let place = |order: &str, customer: &str, lines: Vec<OrderLine>| PlaceOrder {
        order: order.to_owned(),
        customer: customer.to_owned(),
        lines,
    };
    let pay = |order: &str, amount_cents| PayOrder {
        order: order.to_owned(),
        amount_cents,
    };
    let ship = |order: &str, carrier: &str| ShipOrder {
        order: order.to_owned(),
        carrier: carrier.to_owned(),
        tracking: format!("TRK{}", order.trim_start_matches("o-")),
    };
    let cancel = |order: &str, reason: &str| CancelOrder {
        order: order.to_owned(),
        reason: reason.to_owned(),
    };

    let mut run = Story {
        orders: &orders,
        last: head,
    };

    // The read model drives work: the warehouse ships what earlier runs left in its queue.
    let waiting = models.shipping.read(|queue| {
        queue
            .parcels()
            .map(|parcel| parcel.order.clone())
            .collect::<Vec<_>>()
    });
    println!();
    if !waiting.is_empty() {
        println!(
            "The warehouse ships the {} parcel(s) earlier runs left in the shipping queue:",
            waiting.len()
        );
        for order in &waiting {
            run.step(ship(order, "DHL")).await?;
        }
        println!();
    }

    println!("This run's orders are {ada} to {ada_again}.\n");
    run.step(place(
        &ada,
        "Ada",
        vec![
            OrderLine::new("rust-book", 2, 39_90),
            OrderLine::new("mug", 1, 12_50),
        ],
    ))
    .await?;
    run.step(place(
        &grace,
        "Grace",
        vec![OrderLine::new("keyboard", 1, 89_00)],
    ))
    .await?;
    run.step(place(
        &linus,
        "Linus",
        vec![OrderLine::new("sticker", 3, 2_00)],
    ))
    .await?;
    run.step(place(
        &barbara,
        "Barbara",
        vec![
            OrderLine::new("monitor", 1, 249_00),
            OrderLine::new("cable", 2, 9_50),
        ],
    ))
    .await?;
    run.step(place(
        &ada_again,
        "Ada",
        vec![OrderLine::new("mug", 1, 12_50)],
    ))
    .await?;
    run.step(place(&id(6), "Edsger", vec![])).await?;
    run.step(pay(&ada, 92_30)).await?;
    run.step(ship(&ada, "DHL")).await?;

    // Read your own write: the warehouse must see Grace's order as soon as she has paid.
    if let Some(paid) = run.step(pay(&grace, 89_00)).await? {
        models.shipping.wait_for(paid, WAIT).await?;
        let queue = models.shipping.read(|queue| queue.order_ids().join(", "));
        println!("  (read-your-writes: the shipping queue, waited for #{paid}, is now [{queue}])");
    }
    run.step(cancel(&linus, "changed my mind")).await?;
    run.step(pay(&barbara, 200_00)).await?;
    run.step(ship(&barbara, "UPS")).await?;
    run.step(pay(&barbara, 268_00)).await?;
    run.step(pay(&ada_again, 12_50)).await?;
    run.step(cancel(&ada_again, "ordered it twice")).await?;
    run.step(cancel(&ada, "too late?")).await?;

    // Every read model reflects every write of this run once it reaches the last position.
    models.wait_for(run.last).await?;
    println!("\nAll three read models have reached #{}.", run.last);

    println!("\nOrder summaries of this run, as customers see them (OrderSummary):");
    models.summary.read(|summary| {
        for n in 1..=5 {
            let order = id(n);
            if let Some(view) = summary.get(&order) {
                let detail = match (&view.shipment, &view.cancellation) {
                    (Some(shipment), _) => format!("{} {}", shipment.carrier, shipment.tracking),
                    (_, Some(reason)) => format!("{reason:?}"),
                    _ => String::new(),
                };
                let line = format!(
                    "  {order}  {:<8} {:<9} {:>8}  {} line(s), {} unit(s)  {detail}",
                    view.customer,
                    view.status,
                    money(view.total_cents),
                    view.lines,
                    view.units
                );
                println!("{}", line.trim_end());
            }
        }
        let adas = summary.for_customer("Ada").count();
        println!(
            "  ({} orders in all; Ada has placed {adas} of them)",
            summary.orders.len()
        );
    });

    println!("\nSales, over every run (SalesAnalytics):");
    models.sales.read(|sales| {
        println!(
            "  revenue {} (after {} refunded)",
            money(sales.revenue_cents),
            money(sales.refunded_cents)
        );
        let statuses = [
            SaleStatus::AwaitingPayment,
            SaleStatus::Paid,
            SaleStatus::Cancelled,
        ];
        let orders: Vec<String> = statuses
            .iter()
            .map(|status| format!("{} {status}", sales.orders(*status)))
            .collect();
        println!("  orders: {}", orders.join(", "));
        let units: Vec<String> = sales
            .units_by_sku
            .iter()
            .map(|(sku, units)| format!("{sku} {units}"))
            .collect();
        println!("  units sold: {}", units.join(", "));
    });

    println!("\nShipping queue, first paid first (ShippingQueue):");
    models.shipping.read(|queue| {
        if queue.is_empty() {
            println!("  (empty)");
        }
        for (place, parcel) in queue.parcels().enumerate() {
            let lines: Vec<String> = parcel.lines.iter().map(ToString::to_string).collect();
            println!(
                "  {}. {} for {}: {}",
                place + 1,
                parcel.order,
                parcel.customer,
                lines.join(", ")
            );
        }
    });

    println!("\nLag:");
    print_lag(&models.summary).await?;
    print_lag(&models.sales).await?;
    print_lag(&models.shipping).await?;

    models.summary.stop().await;
    models.sales.stop().await;
    models.shipping.stop().await;
    Ok(())
}

/// Runs commands one after another, remembering the position of the last recorded event.
struct Story<'a, S> {
    orders: &'a Repository<Order, S>,
    last: u64,
}

impl<S: EventStore + SnapshotStore> Story<'_, S> {
    /// Runs `command`, prints what happened, and returns the position of its last event.
    async fn step<C>(&mut self, command: C) -> Result<Option<u64>, Error>
    where
        C: Command<Aggregate = Order> + Display,
    {
        let position = execute(self.orders, command).await?;
        if let Some(position) = position {
            self.last = position;
        }
        Ok(position)
    }
}

/// Runs one command, prints what happened, and returns the position of its last event
/// (`None`: rejected).
async fn execute<S, C>(orders: &Repository<Order, S>, command: C) -> Result<Option<u64>, Error>
where
    S: EventStore + SnapshotStore,
    C: Command<Aggregate = Order> + Display,
{
    println!("> {command}");
    match orders.execute(command).await {
        Ok(outcome) => {
            for envelope in &outcome.events {
                println!(
                    "  recorded #{} {}@{} {}",
                    envelope.position,
                    envelope.stream_id,
                    envelope.stream_version,
                    annals::Event::event_type(&envelope.event)
                );
            }
            Ok(outcome.position)
        }
        Err(CommandError::Rejected(error)) => {
            println!("  rejected: {}", explain(&error));
            Ok(None)
        }
        Err(CommandError::NotFound { stream_id }) => {
            println!("  rejected: there is no order `{stream_id}`");
            Ok(None)
        }
        Err(CommandError::AlreadyExists { stream_id, .. }) => {
            println!("  rejected: `{stream_id}` was placed already");
            Ok(None)
        }
        Err(other) => Err(other.into()),
    }
}

fn explain(error: &OrderError) -> String {
    match error {
        OrderError::WrongAmount {
            total_cents,
            offered_cents,
        } => format!(
            "a payment of {} does not match the total of {}",
            money(*offered_cents),
            money(*total_cents)
        ),
        other => other.to_string(),
    }
}

fn print_caught_up<P: Projection>(projection: &ProjectionHandle<P>, reads: &str) {
    println!(
        "  {:<16} {:>4} events, up to #{} ({reads})",
        P::NAME,
        projection.handled(),
        projection.checkpoint()
    );
}

async fn print_lag<P: Projection>(projection: &ProjectionHandle<P>) -> Result<(), Error> {
    let lag = projection.lag().await?;
    println!(
        "  {:<16} checkpoint #{}, head #{}: {} event(s) behind, {:?} behind, {:?}",
        P::NAME,
        lag.checkpoint,
        lag.head,
        lag.events_behind,
        lag.time_behind,
        projection.status()
    );
    Ok(())
}
