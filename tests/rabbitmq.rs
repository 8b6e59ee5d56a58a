//! The relay and a consumer on RabbitMQ, on the shared server: a topic exchange with
//! publisher confirms, a quorum queue with manual acknowledgements. Each test its own
//! exchange, queue and stores.

mod messaging;
mod services;

use std::time::Duration;

use annals::messaging::rabbitmq::{RabbitMqBroker, RabbitMqSource};
use annals::messaging::{
    Consumer, ConsumerOptions, HandlerError, IncomingMessage, MessageHandler, Relay, headers,
};
use annals::store::{DeadLetterStore, EventStore, InMemoryStore, Metadata, SnapshotStore};
use annals::{Repository, Uuid};
use messaging::shipping::{RecordShipments, Shipments};
use messaging::{OrderMessages, placed, record, record_with};
use services::nats::fresh_name;
use services::rabbitmq::{amqp_url, provision, remove, shared_channel};

const WAIT: Duration = Duration::from_secs(60);

async fn shipments<S: EventStore + SnapshotStore + Clone>(store: &S, order: &str) -> u32 {
    Repository::<Shipments, _>::new(store.clone())
        .load(order)
        .await
        .unwrap()
        .state
        .recorded
}

/// Orders relayed through RabbitMQ to the shipping service: each placement recorded once,
/// with the correlation carried across and the order's event as cause; the message id
/// travels as the AMQP `message-id` and in the headers.
#[tokio::test]
async fn orders_reach_the_shipping_service_through_rabbitmq_once_each() {
    let Some((_connection, channel)) = shared_channel().await else {
        return;
    };
    let name = fresh_name("rabbit").to_lowercase();
    let (exchange, queue) = (format!("{name}.x"), format!("{name}.shipping"));
    provision(&channel, &exchange, &queue, &format!("{name}.placed")).await;

    let orders = InMemoryStore::new();
    let broker = RabbitMqBroker::new(amqp_url(), &exchange);
    let relay = Relay::new(orders.clone(), broker, OrderMessages::new(&name))
        .spawn()
        .await
        .unwrap();
    let shipping = InMemoryStore::new();
    let source = RabbitMqSource::new(amqp_url(), &exchange, &queue, format!("{name}.placed"));
    let handler = RecordShipments {
        shipments: Repository::new(shipping.clone()),
    };
    let consumer = Consumer::new(source, handler, shipping.clone()).spawn();

    let correlation = Uuid::now_v7();
    record_with(
        &orders,
        "x",
        vec![placed(1)],
        Metadata::default().correlated_with(correlation),
    )
    .await;
    for round in 0..5 {
        record(&orders, "y", vec![placed(round)]).await;
    }
    let status = consumer.wait_handled(6, WAIT).await;
    assert_eq!(status.handled, 6, "{status:?}");
    assert_eq!(shipments(&shipping, "x").await, 1);
    assert_eq!(shipments(&shipping, "y").await, 5);
    let cause = orders.read_stream("order-x", 1, 1).await.unwrap().remove(0);
    let shipment = shipping
        .read_stream("shipments-x", 1, 1)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(shipment.metadata.correlation_id, Some(correlation));
    assert_eq!(shipment.metadata.causation_id, Some(cause.event_id));

    consumer.stop().await;
    relay.stop().await;
    remove(&channel, &exchange, &queue).await;
}

/// A handler that keeps failing: RabbitMQ's delivery count reaches the maximum, and the
/// message is given up into the dead letters; the others are handled.
#[tokio::test]
async fn a_message_failing_at_each_delivery_is_given_up_after_the_maximum() {
    let Some((_connection, channel)) = shared_channel().await else {
        return;
    };
    struct RefuseOrderB<S>(RecordShipments<S>);
    #[annals::async_trait]
    impl<S: EventStore + SnapshotStore + Clone> MessageHandler for RefuseOrderB<S> {
        async fn handle(&self, message: &IncomingMessage) -> Result<(), HandlerError> {
            let placed: messaging::OrderPlacedV1 = message.json()?;
            if placed.order_id == "b" {
                return Err(format!("order b cannot ship (delivery {})", message.delivery).into());
            }
            self.0.handle(message).await
        }
    }
    let name = fresh_name("rabbitfail").to_lowercase();
    let (exchange, queue) = (format!("{name}.x"), format!("{name}.shipping"));
    provision(&channel, &exchange, &queue, &format!("{name}.placed")).await;
    let orders = InMemoryStore::new();
    let relay = Relay::new(
        orders.clone(),
        RabbitMqBroker::new(amqp_url(), &exchange),
        OrderMessages::new(&name),
    )
    .spawn()
    .await
    .unwrap();
    record(&orders, "a", vec![placed(1)]).await;
    record(&orders, "b", vec![placed(2)]).await;
    let last = record(&orders, "c", vec![placed(3)]).await;
    relay.wait_for(last, WAIT).await.unwrap();

    let shipping = InMemoryStore::new();
    let source = RabbitMqSource::new(amqp_url(), &exchange, &queue, format!("{name}.placed"));
    let options = ConsumerOptions::default()
        .with_max_deliveries(3)
        .with_backoff(Duration::from_millis(20), Duration::from_millis(100));
    let handler = RefuseOrderB(RecordShipments {
        shipments: Repository::new(shipping.clone()),
    });
    let consumer = Consumer::new(source, handler, shipping.clone())
        .with_options(options)
        .spawn();
    let mut status = consumer.status();
    for _ in 0..1_000 {
        status = consumer.status();
        if status.given_up == 1 && status.handled == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        (status.handled, status.failed, status.given_up),
        (2, 3, 1),
        "{status:?}"
    );
    let letters = shipping
        .dead_letters(&format!("consumer:{queue}"))
        .await
        .unwrap();
    assert_eq!(letters.len(), 1);
    assert!(
        letters[0].error.contains("delivery 3"),
        "{}",
        letters[0].error
    );
    assert!(
        letters[0]
            .headers
            .iter()
            .any(|(n, _)| n == headers::MESSAGE_ID)
    );
    consumer.stop().await;
    relay.stop().await;
    remove(&channel, &exchange, &queue).await;
}
