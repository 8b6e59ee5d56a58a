//! Messaging end to end, beside floors from the same run (issue: messaging, figures 2 and 3).
//!
//! `cargo bench --bench messaging` (`-- --quick` for shorter runs). Needs NATS with
//! JetStream on 127.0.0.1:4222 (`NATS_URL`).
//!
//! 1. **Consumer throughput with the inbox.** `N` `OrderPlaced` v1 messages (one per order,
//!    with the relay's envelope) are published into a fresh JetStream stream. annals: a
//!    `Consumer` on a durable pull consumer hands each to the shipping service's inbox,
//!    which runs a command keyed by the message id into a SQLite store (a lookup of the
//!    key, a load, an append). Floor: a raw async-nats pull loop that decodes each message,
//!    INSERTs one row with its fields into a SQLite table (WAL, `synchronous = NORMAL`, as
//!    the store) with rusqlite, and acknowledges it with the same confirmed ack.
//! 2. **Latency from commit to the consumer's effect** at a steady 1,000 commands/s: orders
//!    placed through the repository on a SQLite store, relayed to JetStream, consumed into
//!    the shipping service's SQLite store; each latency is from the command's return to the
//!    consumer's command's return. p50 and p99.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use annals::messaging::nats::{JetStreamBroker, JetStreamSource};
use annals::messaging::{
    Consumer, HandlerError, IncomingMessage, Message, MessageHandler, OutgoingMessage, Relay,
    headers,
};
use annals::store::{Metadata, RecordedEvent, SqliteStore};
use annals::{Repository, Uuid};
use annals_examples::orders::{Order, OrderLine, PlaceOrder};
use annals_examples::shipping::{OrderMessages, OrderPlacedV1, ShippingInbox};
use async_nats::jetstream;
use futures_util::StreamExt;

fn url() -> String {
    std::env::var("NATS_URL").unwrap_or_else(|_| "127.0.0.1:4222".into())
}

fn scratch(label: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("annals-bench-messaging-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("{label}-{}.sqlite", Uuid::now_v7().simple()))
}

async fn fresh_stream(context: &jetstream::Context, name: &str, subjects: &str) {
    let _ = context.delete_stream(name).await;
    context
        .create_stream(jetstream::stream::Config {
            name: name.to_owned(),
            subjects: vec![subjects.to_owned()],
            ..Default::default()
        })
        .await
        .expect("create the stream");
}

/// `n` messages as the relay sends them: one placed order each.
fn placed_messages(n: usize) -> Vec<OutgoingMessage> {
    (0..n)
        .map(|i| {
            let public = OrderPlacedV1 {
                order_id: format!("o-{i}"),
                customer: "ada".into(),
                items: 3,
                total_cents: 2_100,
            };
            let message = Message::json("orders.placed.v1", "OrderPlaced", 1, &public).unwrap();
            let event = RecordedEvent {
                position: i as u64 + 1,
                stream_id: format!("order-o-{i}"),
                stream_version: 1,
                event_id: Uuid::now_v7(),
                event_type: "OrderPlaced".into(),
                schema_version: 1,
                payload: Vec::new(),
                metadata: Metadata::default().correlated_with(Uuid::now_v7()),
                recorded_at: annals::Utc::now(),
            };
            OutgoingMessage::new("orders_public", &event, message)
        })
        .collect()
}

async fn publish_all(
    context: &jetstream::Context,
    subject_prefix: &str,
    messages: &[OutgoingMessage],
) {
    let mut acks = Vec::with_capacity(messages.len());
    for message in messages {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", message.id.to_string());
        for (name, value) in &message.headers {
            headers.insert(name.as_str(), value.as_str());
        }
        let subject = format!("{subject_prefix}.{}", message.subject);
        acks.push(
            context
                .publish_with_headers(subject, headers, message.payload.clone().into())
                .await
                .unwrap(),
        );
        // The client holds at most 5,000 acknowledgements outstanding.
        if acks.len() == 1_000 {
            for ack in acks.drain(..) {
                ack.await.unwrap();
            }
        }
    }
    for ack in acks {
        ack.await.unwrap();
    }
}

/// The floor: a raw pull loop writing one row per message, then acknowledging it.
async fn raw_consume(context: &jetstream::Context, stream: &str, n: usize) -> Duration {
    let connection = rusqlite::Connection::open(scratch("floor")).unwrap();
    connection
        .execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
             CREATE TABLE shipments (message_id BLOB PRIMARY KEY, order_id TEXT NOT NULL,
                                     customer TEXT NOT NULL, items INTEGER NOT NULL, payload BLOB NOT NULL);",
        )
        .unwrap();
    let consumer = context
        .get_stream(stream)
        .await
        .unwrap()
        .create_consumer(jetstream::consumer::pull::Config {
            durable_name: Some("floor".into()),
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut messages = consumer.messages().await.unwrap();
    let started = Instant::now();
    for _ in 0..n {
        let message = messages.next().await.unwrap().unwrap();
        let id: Uuid = message
            .headers
            .as_ref()
            .and_then(|h| h.get(headers::MESSAGE_ID))
            .unwrap()
            .as_str()
            .parse()
            .unwrap();
        let placed: OrderPlacedV1 = serde_json::from_slice(&message.payload).unwrap();
        connection
            .prepare_cached("INSERT INTO shipments VALUES (?1, ?2, ?3, ?4, ?5)")
            .unwrap()
            .execute(rusqlite::params![
                id.as_bytes(),
                placed.order_id,
                placed.customer,
                placed.items,
                serde_json::to_vec(&placed).unwrap()
            ])
            .unwrap();
        message.double_ack().await.unwrap();
    }
    started.elapsed()
}

/// annals: the shipping service's inbox on a SQLite store.
async fn inbox_consume(context: &jetstream::Context, stream: &str, n: usize) -> Duration {
    let store = SqliteStore::open(scratch("inbox")).unwrap();
    let source = JetStreamSource::durable(context, stream, "inbox", ">")
        .await
        .unwrap();
    let inbox = ShippingInbox {
        shipments: Repository::new(store.clone()),
    };
    let started = Instant::now();
    let consumer = Consumer::new(source, inbox, store).spawn();
    let status = consumer
        .wait_handled(n as u64, Duration::from_secs(600))
        .await;
    let took = started.elapsed();
    assert_eq!(status.handled, n as u64, "{status:?}");
    consumer.stop().await;
    took
}

/// The shipping inbox, timing each order's effect from its command's commit.
struct Timed {
    inner: ShippingInbox<SqliteStore>,
    committed: Arc<Mutex<HashMap<String, Instant>>>,
    latencies: Arc<Mutex<Vec<Duration>>>,
}

#[annals::async_trait]
impl MessageHandler for Timed {
    async fn handle(&self, message: &IncomingMessage) -> Result<(), HandlerError> {
        self.inner.handle(message).await?;
        let placed: OrderPlacedV1 = message.json()?;
        let committed = self
            .committed
            .lock()
            .unwrap()
            .get(&placed.order_id)
            .copied();
        if let Some(committed) = committed {
            self.latencies.lock().unwrap().push(committed.elapsed());
        }
        Ok(())
    }
}

async fn latency(seconds: u64) -> (f64, Duration, Duration, usize) {
    let client = async_nats::connect(url()).await.unwrap();
    let context = jetstream::new(client);
    // The orders' public subjects are fixed (`orders.>`), and JetStream lets one stream take
    // them: the example's, when it exists, or one of this run.
    let (name, own_stream) = match context.stream_by_subject("orders.placed.v1").await {
        Ok(name) => (name, false),
        Err(_) => (format!("BENCH_E2E_{}", std::process::id()), true),
    };
    let orders_db = SqliteStore::open(scratch("orders")).unwrap();
    let shipping_db = SqliteStore::open(scratch("shipping")).unwrap();
    let broker = JetStreamBroker::connect(&url(), &name, ["orders.>"])
        .await
        .unwrap();
    let relay = Relay::new(orders_db.clone(), broker, OrderMessages)
        .spawn()
        .await
        .unwrap();
    let durable = format!("bench-e2e-{}", std::process::id());
    let config = jetstream::consumer::pull::Config {
        durable_name: Some(durable.clone()),
        filter_subject: "orders.placed.v1".into(),
        ack_policy: jetstream::consumer::AckPolicy::Explicit,
        deliver_policy: jetstream::consumer::DeliverPolicy::New,
        ..Default::default()
    };
    let source = loop {
        match JetStreamSource::with_config(&context, &name, config.clone()).await {
            Ok(source) => break source,
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    };
    let committed = Arc::new(Mutex::new(HashMap::new()));
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let handler = Timed {
        inner: ShippingInbox {
            shipments: Repository::new(shipping_db.clone()),
        },
        committed: Arc::clone(&committed),
        latencies: Arc::clone(&latencies),
    };
    let consumer = Consumer::new(source, handler, shipping_db).spawn();
    let orders = Repository::<Order, _>::new(orders_db);
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let started = Instant::now();
    let mut placed = 0usize;
    while started.elapsed() < Duration::from_secs(seconds) {
        tick.tick().await;
        let order = format!("o-{placed}");
        let command = PlaceOrder {
            order: order.clone(),
            customer: "ada".into(),
            lines: vec![OrderLine {
                sku: "tea".into(),
                quantity: 3,
                unit_price_cents: 700,
            }],
        };
        orders.execute(command).await.unwrap();
        committed.lock().unwrap().insert(order, Instant::now());
        placed += 1;
    }
    let rate = placed as f64 / started.elapsed().as_secs_f64();
    consumer
        .wait_handled(placed as u64, Duration::from_secs(60))
        .await;
    consumer.stop().await;
    relay.stop().await;
    if own_stream {
        let _ = context.delete_stream(&name).await;
    } else if let Ok(stream) = context.get_stream(&name).await {
        let _ = stream.delete_consumer(&durable).await;
    }
    let mut latencies = latencies.lock().unwrap().clone();
    latencies.sort_unstable();
    let at = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize];
    (rate, at(0.50), at(0.99), latencies.len())
}

#[tokio::main]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let client = match async_nats::connect(url()).await {
        Ok(client) => client,
        Err(error) => {
            eprintln!(
                "messaging bench: NATS unreachable at {} ({error}); start it",
                url()
            );
            return;
        }
    };
    let context = jetstream::new(client);
    let n = if quick { 2_000 } else { 10_000 };
    let rounds = if quick { 1 } else { 3 };

    println!("consumer throughput: {n} messages, one order each, into SQLite");
    for round in 0..rounds {
        let stream = format!("BENCH_CONSUME_{}_{round}", std::process::id());
        let prefix = stream.to_lowercase();
        fresh_stream(&context, &stream, &format!("{prefix}.>")).await;
        publish_all(&context, &prefix, &placed_messages(n)).await;
        let floor = raw_consume(&context, &stream, n).await;
        let annals = inbox_consume(&context, &stream, n).await;
        let _ = context.delete_stream(&stream).await;
        let rate = |took: Duration| n as f64 / took.as_secs_f64();
        println!(
            "round {round}: floor {:>7.0} msg/s   annals {:>7.0} msg/s   ratio {:.2}",
            rate(floor),
            rate(annals),
            rate(annals) / rate(floor)
        );
    }

    let seconds = if quick { 2 } else { 5 };
    println!("\nlatency, commit to the consumer's effect, at 1,000 commands/s for {seconds} s");
    let (rate, p50, p99, measured) = latency(seconds).await;
    println!("achieved {rate:.0} commands/s; {measured} effects; p50 {p50:.2?}, p99 {p99:.2?}");
}
