//! Two services and a broker: the orders service records orders and publishes
//! `OrderPlaced` and `OrderShipped` v1 messages from its log (the log is the outbox); the
//! shipping service, with a database of its own, consumes them through its inbox and keeps
//! a shipment per order. Each service here is a task of this process with its own SQLite
//! file; they share nothing but the broker.
//!
//! ```text
//! cargo run --example shipping               # through NATS JetStream on 127.0.0.1:4222 (NATS_URL)
//! cargo run --example shipping -- --rabbitmq # through RabbitMQ on 127.0.0.1:5672 (AMQP_URL)
//! ```

// Amounts are cents, written `units_cents` (39_90 is 39.90).
#![allow(clippy::inconsistent_digit_grouping)]

use std::process::ExitCode;
use std::time::Duration;

use annals::messaging::nats::{JetStreamBroker, JetStreamSource};
use annals::messaging::rabbitmq::{RabbitMqBroker, RabbitMqSource};
use annals::messaging::{Consumer, ConsumerHandle, Relay, RelayHandle};
use annals::store::{EventStore, SqliteStore};
use annals::{Repository, Uuid};
use annals_examples::orders::{Order, OrderLine, PayOrder, PlaceOrder, ShipOrder};
use annals_examples::shipping::{OrderMessages, Shipment, ShippingInbox};

type Error = Box<dyn std::error::Error>;

const WAIT: Duration = Duration::from_secs(20);

enum Broker {
    Nats(String),
    RabbitMq(String),
}

#[tokio::main]
async fn main() -> ExitCode {
    let broker = if std::env::args().any(|arg| arg == "--rabbitmq") {
        Broker::RabbitMq(
            std::env::var("AMQP_URL")
                .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into()),
        )
    } else {
        Broker::Nats(std::env::var("NATS_URL").unwrap_or_else(|_| "127.0.0.1:4222".into()))
    };
    if let Err(help) = reachable(&broker).await {
        eprintln!("{help}");
        return ExitCode::FAILURE;
    }
    match run(broker).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Whether the broker listens; if not, what to start.
async fn reachable(broker: &Broker) -> Result<(), String> {
    let (name, address, start) = match broker {
        Broker::Nats(url) => (
            "NATS",
            url.trim_start_matches("nats://").to_owned(),
            "nats-server -js   (JetStream on; or set NATS_URL)",
        ),
        Broker::RabbitMq(url) => (
            "RabbitMQ",
            url.rsplit('@')
                .next()
                .unwrap_or(url)
                .split('/')
                .next()
                .unwrap_or("")
                .to_owned(),
            "service rabbitmq-server start   (or set AMQP_URL)",
        ),
    };
    let connect = tokio::net::TcpStream::connect(address.clone());
    match tokio::time::timeout(Duration::from_secs(2), connect).await {
        Ok(Ok(_)) => Ok(()),
        _ => Err(format!(
            "{name} is not running at {address}. Start it:\n    {start}\nthen run the example again."
        )),
    }
}

async fn run(broker: Broker) -> Result<(), Error> {
    // Names of this run only: a second run starts clean.
    let run = Uuid::now_v7().simple().to_string()[20..].to_owned();
    let dir = std::env::temp_dir().join(format!("annals-shipping-{run}"));
    std::fs::create_dir_all(&dir)?;
    let orders_db = SqliteStore::open(dir.join("orders.sqlite"))?;
    let shipping_db = SqliteStore::open(dir.join("shipping.sqlite"))?;

    let (relay, consumer, via, cleanup) = match &broker {
        Broker::Nats(url) => {
            // One stream takes the orders' subjects, kept between runs (JetStream lets no
            // two streams share subjects): the one there is, or ours. A consumer of this
            // run's own reads it from now on.
            let client = async_nats::connect(url).await?;
            let context = async_nats::jetstream::new(client);
            let stream = match context.stream_by_subject("orders.placed.v1").await {
                Ok(existing) => existing,
                Err(_) => "ANNALS_EXAMPLE_ORDERS".to_owned(),
            };
            let stream_config = async_nats::jetstream::stream::Config {
                name: stream.clone(),
                subjects: vec!["orders.>".into()],
                ..Default::default()
            };
            let relay_broker = JetStreamBroker::new(context.clone(), stream_config);
            let relay = Relay::new(orders_db.clone(), relay_broker, OrderMessages)
                .spawn()
                .await?;
            let durable = format!("shipping-{run}");
            let config = async_nats::jetstream::consumer::pull::Config {
                durable_name: Some(durable.clone()),
                filter_subject: "orders.>".into(),
                ack_policy: async_nats::jetstream::consumer::AckPolicy::Explicit,
                deliver_policy: async_nats::jetstream::consumer::DeliverPolicy::New,
                ..Default::default()
            };
            // The stream exists once the relay has prepared it.
            let mut tries = 0;
            let source = loop {
                match JetStreamSource::with_config(&context, &stream, config.clone()).await {
                    Ok(source) => break source,
                    Err(error) if tries == 100 => return Err(error.into()),
                    Err(_) => tries += 1,
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            };
            let inbox = ShippingInbox {
                shipments: Repository::new(shipping_db.clone()),
            };
            let consumer = Consumer::new(source, inbox, shipping_db.clone()).spawn();
            let via = format!("NATS JetStream, stream {stream}");
            (
                relay,
                consumer,
                via,
                Cleanup::Consumer(context, stream, durable),
            )
        }
        Broker::RabbitMq(url) => {
            let exchange = format!("annals-example-{run}");
            let queue = format!("{exchange}.shipping");
            let inbox = ShippingInbox {
                shipments: Repository::new(shipping_db.clone()),
            };
            // The consumer declares and binds its queue first, so no message is published
            // before anyone listens.
            let source = RabbitMqSource::new(url, &exchange, &queue, "orders.#");
            let consumer = Consumer::new(source, inbox, shipping_db.clone()).spawn();
            tokio::time::sleep(Duration::from_millis(500)).await;
            let relay_broker = RabbitMqBroker::new(url, &exchange);
            let relay = Relay::new(orders_db.clone(), relay_broker, OrderMessages)
                .spawn()
                .await?;
            let via = format!("RabbitMQ, exchange {exchange}");
            (
                relay,
                consumer,
                via,
                Cleanup::Exchange(url.clone(), exchange, queue),
            )
        }
    };
    println!("annals: orders → {via} → shipping\n");

    let orders = Repository::<Order, _>::new(orders_db.clone());
    let line = |sku: &str, quantity, unit_price_cents| OrderLine {
        sku: sku.into(),
        quantity,
        unit_price_cents,
    };
    for (order, customer, lines) in [
        (
            "o-1",
            "ada",
            vec![line("tea", 2, 4_50), line("cup", 1, 12_00)],
        ),
        ("o-2", "grace", vec![line("kettle", 1, 39_90)]),
        ("o-3", "linus", vec![line("tea", 5, 4_50)]),
    ] {
        let placed = PlaceOrder {
            order: order.into(),
            customer: customer.into(),
            lines,
        };
        orders.execute(placed).await?;
        println!("orders:   {order} placed by {customer}");
    }
    for (order, total) in [("o-1", 21_00), ("o-2", 39_90)] {
        orders
            .execute(PayOrder {
                order: order.into(),
                amount_cents: total,
            })
            .await?;
        println!("orders:   {order} paid (private: not published)");
    }
    let shipped = ShipOrder {
        order: "o-1".into(),
        carrier: "DHL".into(),
        tracking: "JD014600".into(),
    };
    let outcome = orders.execute(shipped).await?;
    println!("orders:   o-1 shipped");

    relay
        .wait_for(outcome.position.unwrap_or_default(), WAIT)
        .await?;
    let status = consumer.wait_handled(4, WAIT).await;
    println!(
        "\nshipping handled {} messages, gave up {}",
        status.handled, status.given_up
    );

    let shipments = Repository::<Shipment, _>::new(shipping_db.clone());
    for order in ["o-1", "o-2", "o-3"] {
        let shipment = shipments.load(order).await?.state;
        println!(
            "shipping: {order} for {:<6} {} items, parcel requested {}x, {}",
            shipment.customer,
            shipment.items,
            shipment.requests,
            shipment
                .tracking
                .as_deref()
                .map_or("waiting".into(), |t| format!("dispatched ({t})")),
        );
    }

    // One business transaction, followed across the two services.
    let placed = orders_db.read_stream("order-o-1", 1, 1).await?.remove(0);
    let requested = shipping_db
        .read_stream("shipment-o-1", 1, 1)
        .await?
        .remove(0);
    println!(
        "\ncausation: order event {} → shipment event {} (caused by {}, correlation {})",
        placed.event_id,
        requested.event_id,
        requested
            .metadata
            .causation_id
            .map_or("-".into(), |id| id.to_string()),
        requested
            .metadata
            .correlation_id
            .map_or("-".into(), |id| id.to_string()),
    );

    stop(relay, consumer).await;
    cleanup.run().await?;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

async fn stop(relay: RelayHandle, consumer: ConsumerHandle) {
    consumer.stop().await;
    relay.stop().await;
}

/// What this run made on the broker, removed at its end.
enum Cleanup {
    Consumer(async_nats::jetstream::Context, String, String),
    Exchange(String, String, String),
}

impl Cleanup {
    async fn run(self) -> Result<(), Error> {
        match self {
            Cleanup::Consumer(context, stream, durable) => {
                context
                    .get_stream(stream)
                    .await?
                    .delete_consumer(&durable)
                    .await?;
            }
            Cleanup::Exchange(url, exchange, queue) => {
                use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
                let connection =
                    lapin::Connection::connect(&url, lapin::ConnectionProperties::default())
                        .await?;
                let channel = connection.create_channel().await?;
                channel
                    .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                    .await?;
                channel
                    .exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
                    .await?;
            }
        }
        Ok(())
    }
}
