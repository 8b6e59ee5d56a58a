//! Inbox consumers on NATS JetStream, on the shared server: messages from one service's
//! relay turned into commands of another service, once in effect, with the correlation
//! carried across. Each test its own stream, consumer and databases.

mod messaging;
mod services;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use annals::messaging::nats::{JetStreamBroker, JetStreamSource};
use annals::messaging::{
    Consumer, ConsumerHandle, ConsumerOptions, HandlerError, IncomingMessage, MessageHandler,
    Relay, RelayHandle, ReplayError, SqlInbox, SqlMessageHandler,
};
use annals::store::{
    DeadLetterStore, EventStore, InMemoryStore, Metadata, SnapshotStore, SqlStatement, SqlTarget,
    SqliteStore,
};
use annals::{Repository, Uuid};
use async_nats::jetstream;
use messaging::shipping::{RecordShipments, Shipments};
use messaging::{OrderMessages, placed, record, record_with};
use services::nats::{fresh_name, nats_url, shared_jetstream};

const WAIT: Duration = Duration::from_secs(60);

/// The orders service's relay into a fresh stream `name` over `{name}.>` (lower case).
async fn orders_relay(orders: &InMemoryStore, name: &str) -> RelayHandle {
    let prefix = name.to_lowercase();
    let broker = JetStreamBroker::connect(&nats_url(), name, [format!("{prefix}.>")])
        .await
        .unwrap();
    Relay::new(orders.clone(), broker, OrderMessages::new(prefix))
        .spawn()
        .await
        .unwrap()
}

/// The durable consumer `durable` of the placed orders of stream `name`, redelivering after
/// `ack_wait` without an acknowledgement.
async fn placed_orders(
    context: &jetstream::Context,
    name: &str,
    durable: &str,
    ack_wait: Duration,
) -> JetStreamSource {
    let config = jetstream::consumer::pull::Config {
        durable_name: Some(durable.to_owned()),
        filter_subject: format!("{}.placed", name.to_lowercase()),
        ack_policy: jetstream::consumer::AckPolicy::Explicit,
        ack_wait,
        ..Default::default()
    };
    // The relay creates the stream; the consumer may start first.
    for _ in 0..100 {
        if let Ok(source) = JetStreamSource::with_config(context, name, config.clone()).await {
            return source;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no stream {name}");
}

/// The orders service with 30 placements (10 rounds over orders a, b, c), all relayed to
/// the stream `name`.
async fn thirty_placements_relayed(name: &str) -> RelayHandle {
    let orders = InMemoryStore::new();
    let relay = orders_relay(&orders, name).await;
    let mut last = 0;
    for round in 0..10 {
        for order in ["a", "b", "c"] {
            last = record(&orders, order, vec![placed(round)]).await;
        }
    }
    relay.wait_for(last, WAIT).await.unwrap();
    relay
}

/// Runs `crashing_consumer_child` on the SQLite file `path` and the stream `name`, its
/// handler keyed commands or the SQL inbox (`inbox`), until it aborts after its fifth
/// message's commit.
fn crash_a_consumer_after_five(path: &std::path::Path, name: &str, inbox: &str) {
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "crashing_consumer_child",
            "--test-threads=1",
        ])
        .env("ANNALS_SHIPPING_DB", path)
        .env("ANNALS_STREAM", name)
        .env("ANNALS_CRASH_AFTER", "5")
        .env("ANNALS_INBOX", inbox)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success(), "the child consumer died");
}

fn shipping<S: EventStore + SnapshotStore + Clone>(store: &S) -> RecordShipments<S> {
    RecordShipments {
        shipments: Repository::new(store.clone()),
    }
}

async fn shipments<S: EventStore + SnapshotStore + Clone>(store: &S, order: &str) -> u32 {
    Repository::<Shipments, _>::new(store.clone())
        .load(order)
        .await
        .unwrap()
        .state
        .recorded
}

/// One chain across two services through the broker: the shipping service's event names
/// the orders service's event as its cause, and carries its correlation id.
#[tokio::test]
async fn a_message_becomes_a_command_that_carries_the_correlation_and_names_its_cause() {
    let Some(context) = shared_jetstream().await else {
        return;
    };
    let name = fresh_name("CHAIN");
    let orders = InMemoryStore::new();
    let relay = orders_relay(&orders, &name).await;
    let shipping_store = InMemoryStore::new();
    let source = placed_orders(&context, &name, "shipping", Duration::from_secs(30)).await;
    let consumer = Consumer::new(source, shipping(&shipping_store), shipping_store.clone()).spawn();

    let correlation = Uuid::now_v7();
    let metadata = Metadata::default()
        .correlated_with(correlation)
        .caused_by(Uuid::now_v7());
    let appended = record_with(&orders, "o-1", vec![placed(25)], metadata).await;
    let status = consumer.wait_handled(1, WAIT).await;
    assert_eq!(status.handled, 1, "{status:?}");

    let order_event = orders
        .read_stream("order-o-1", 1, 1)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(order_event.position, appended.last_position());
    let shipment = shipping_store
        .read_stream("shipments-o-1", 1, 10)
        .await
        .unwrap();
    assert_eq!(shipment.len(), 1);
    assert_eq!(shipment[0].metadata.correlation_id, Some(correlation));
    assert_eq!(
        shipment[0].metadata.causation_id,
        Some(order_event.event_id)
    );
    consumer.stop().await;
    relay.stop().await;
    context.delete_stream(&name).await.unwrap();
}

/// Run in a child process by `a_consumer_killed_after_its_commit_...`: consumes into the
/// SQLite file `ANNALS_SHIPPING_DB` and aborts (no acknowledgement) right after the
/// command of its `ANNALS_CRASH_AFTER`-th message has committed.
#[tokio::test]
#[ignore = "the child process of a_consumer_killed_after_its_commit_and_before_its_ack_has_no_double_effect"]
async fn crashing_consumer_child() {
    let (Ok(path), Ok(name), Ok(crash_after)) = (
        std::env::var("ANNALS_SHIPPING_DB"),
        std::env::var("ANNALS_STREAM"),
        std::env::var("ANNALS_CRASH_AFTER"),
    ) else {
        return;
    };
    struct CrashAfter<H> {
        inner: H,
        after: u64,
        handled: std::sync::atomic::AtomicU64,
    }
    #[annals::async_trait]
    impl<H: MessageHandler> MessageHandler for CrashAfter<H> {
        async fn handle(&self, message: &IncomingMessage) -> Result<(), HandlerError> {
            self.inner.handle(message).await?;
            let handled = self
                .handled
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
                + 1;
            if handled == self.after {
                // Committed, not acknowledged.
                std::process::abort();
            }
            Ok(())
        }
    }
    let context = shared_jetstream().await.unwrap();
    let store = SqliteStore::open(&path).unwrap();
    let source = placed_orders(&context, &name, "shipping", Duration::from_secs(1)).await;
    let after = crash_after.parse().unwrap();
    let _consumer: ConsumerHandle = if std::env::var("ANNALS_INBOX").is_ok_and(|v| v == "sql") {
        let handler = CrashAfter {
            inner: SqlInbox::new(store.clone(), "shipping", Parcels),
            after,
            handled: Default::default(),
        };
        Consumer::new(source, handler, store.clone()).spawn()
    } else {
        let handler = CrashAfter {
            inner: shipping(&store),
            after,
            handled: Default::default(),
        };
        Consumer::new(source, handler, store.clone()).spawn()
    };
    std::future::pending::<()>().await;
}

/// Each placed order becomes a row of `parcels` (no key: a row twice would show).
struct Parcels;

impl SqlMessageHandler for Parcels {
    fn statements(&self, message: &IncomingMessage) -> Result<Vec<SqlStatement>, HandlerError> {
        let placed: messaging::OrderPlacedV1 = message.json()?;
        Ok(vec![SqlStatement {
            sql: "INSERT INTO parcels (order_id, total) VALUES ($1, $2)".into(),
            params: vec![placed.order_id.into(), placed.total.into()],
        }])
    }
}

/// The same with the SQL inbox: the parcel rows and the inbox record commit together, so
/// the redelivered message adds no row.
#[tokio::test]
async fn a_sql_inbox_consumer_killed_after_its_commit_and_before_its_ack_has_no_double_effect() {
    let Some(context) = shared_jetstream().await else {
        return;
    };
    let name = fresh_name("SQLINBOX");
    let relay = thirty_placements_relayed(&name).await;
    let path = services::sqlite_path("parcels");
    let store = SqliteStore::open(&path).unwrap();
    store
        .prepare_read_model(&[
            "CREATE TABLE parcels (order_id TEXT NOT NULL, total BIGINT NOT NULL)".into(),
        ])
        .await
        .unwrap();

    crash_a_consumer_after_five(&path, &name, "sql");
    let count = |store: SqliteStore| async move {
        match store
            .query("SELECT count(*) FROM parcels", &[])
            .await
            .unwrap()[0][0]
        {
            annals::store::SqlValue::Int(n) => n,
            ref other => panic!("{other:?}"),
        }
    };
    assert_eq!(
        count(store.clone()).await,
        5,
        "five messages committed before the crash"
    );

    let source = placed_orders(&context, &name, "shipping", Duration::from_secs(1)).await;
    let options =
        ConsumerOptions::default().with_backoff(Duration::from_millis(50), Duration::from_secs(1));
    let handler = SqlInbox::new(store.clone(), "shipping", Parcels);
    let consumer = Consumer::new(source, handler, store.clone())
        .with_options(options)
        .spawn();
    let status = consumer.wait_handled(26, WAIT).await;
    assert_eq!(
        status.handled, 26,
        "the 25 left and the unacknowledged one: {status:?}"
    );
    consumer.stop().await;
    assert_eq!(count(store.clone()).await, 30, "30 parcels, none twice");
    relay.stop().await;
    context.delete_stream(&name).await.unwrap();
}

/// A consumer process that dies after its command committed and before the broker heard
/// its acknowledgement: the message comes again, to the next consumer, and is recorded
/// once (the command's key is the message's id).
#[tokio::test]
async fn a_consumer_killed_after_its_commit_and_before_its_ack_has_no_double_effect() {
    let Some(context) = shared_jetstream().await else {
        return;
    };
    let name = fresh_name("INBOX");
    let relay = thirty_placements_relayed(&name).await;
    let path = services::sqlite_path("shipping");
    drop(SqliteStore::open(&path).unwrap());

    crash_a_consumer_after_five(&path, &name, "commands");
    let store = SqliteStore::open(&path).unwrap();
    let recorded = store.head_position().await.unwrap();
    assert_eq!(recorded, 5, "five commands committed before the crash");

    // The next consumer gets the rest, and the fifth again once its acknowledgement is
    // overdue.
    let source = placed_orders(&context, &name, "shipping", Duration::from_secs(1)).await;
    let options =
        ConsumerOptions::default().with_backoff(Duration::from_millis(50), Duration::from_secs(1));
    let consumer = Consumer::new(source, shipping(&store), store.clone())
        .with_options(options)
        .spawn();
    let status = consumer.wait_handled(26, WAIT).await;
    assert_eq!(
        status.handled, 26,
        "the 25 left and the unacknowledged one: {status:?}"
    );
    consumer.stop().await;
    for order in ["a", "b", "c"] {
        assert_eq!(
            shipments(&store, order).await,
            10,
            "order {order}: each placement once"
        );
    }
    assert_eq!(
        store.head_position().await.unwrap(),
        30,
        "30 shipments, none twice"
    );
    relay.stop().await;
    context.delete_stream(&name).await.unwrap();
}

/// A handler that keeps failing has its message delivered again with backoff, up to the
/// maximum, then given up (terminated at the broker) into the dead letters; a message
/// without a message id is given up at once; the others are handled. An operator replays a
/// letter after the fix, or discards it.
#[tokio::test]
async fn failing_and_unreadable_messages_are_given_up_and_the_rest_flow() {
    let Some(context) = shared_jetstream().await else {
        return;
    };
    /// Refuses order b until fixed.
    struct RefuseOrderB<S>(RecordShipments<S>, Arc<AtomicBool>);
    #[annals::async_trait]
    impl<S: EventStore + SnapshotStore + Clone> MessageHandler for RefuseOrderB<S> {
        async fn handle(&self, message: &IncomingMessage) -> Result<(), HandlerError> {
            let placed: messaging::OrderPlacedV1 = message.json()?;
            if placed.order_id == "b" && !self.1.load(Ordering::SeqCst) {
                return Err("order b cannot ship".into());
            }
            self.0.handle(message).await
        }
    }
    let fixed = Arc::new(AtomicBool::new(false));
    let name = fresh_name("GIVENUP");
    let orders = InMemoryStore::new();
    let relay = orders_relay(&orders, &name).await;
    record(&orders, "a", vec![placed(1)]).await;
    record(&orders, "b", vec![placed(2)]).await;
    let last = record(&orders, "c", vec![placed(3)]).await;
    relay.wait_for(last, WAIT).await.unwrap();
    context
        .publish(format!("{}.placed", name.to_lowercase()), "{}".into())
        .await
        .unwrap()
        .await
        .unwrap();

    let store = InMemoryStore::new();
    let source = placed_orders(&context, &name, "shipping", Duration::from_secs(30)).await;
    let options = ConsumerOptions::default()
        .with_max_deliveries(3)
        .with_backoff(Duration::from_millis(20), Duration::from_millis(100));
    let handler = RefuseOrderB(shipping(&store), Arc::clone(&fixed));
    let consumer = Consumer::new(source, handler, store.clone())
        .with_options(options)
        .spawn();
    let mut status = consumer.status();
    for _ in 0..500 {
        status = consumer.status();
        if status.given_up == 2 && status.handled == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        (status.handled, status.failed, status.given_up),
        (2, 3, 2),
        "{status:?}"
    );
    assert_eq!(shipments(&store, "a").await, 1);
    assert_eq!(shipments(&store, "b").await, 0);
    assert_eq!(shipments(&store, "c").await, 1);
    let letters = store.dead_letters("consumer:shipping").await.unwrap();
    assert_eq!(letters.len(), 2, "{letters:?}");
    let refused = letters.iter().find(|l| l.message_id.is_some()).unwrap();
    assert!(
        refused.error.contains("order b cannot ship"),
        "{}",
        refused.error
    );
    assert!(refused.error.contains("3 deliveries"), "{}", refused.error);
    let unreadable = letters.iter().find(|l| l.message_id.is_none()).unwrap();
    assert_eq!(unreadable.payload.as_deref(), Some(&b"{}"[..]));

    // The operator: the refused order, replayed after the fix, ships once; the unreadable
    // message still fails, and is discarded.
    fixed.store(true, Ordering::SeqCst);
    consumer.replay(refused.id).await.unwrap();
    assert_eq!(shipments(&store, "b").await, 1);
    let still = consumer.replay(unreadable.id).await.unwrap_err();
    assert!(matches!(still, ReplayError::StillFailing(_)), "{still}");
    assert!(consumer.discard(unreadable.id).await.unwrap());
    assert!(consumer.dead_letters().await.unwrap().is_empty());
    consumer.stop().await;
    relay.stop().await;
    context.delete_stream(&name).await.unwrap();
}
