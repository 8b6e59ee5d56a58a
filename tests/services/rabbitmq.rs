//! RabbitMQ for the messaging tests: the shared server (`AMQP_URL`, or the loopback one),
//! under the usual skip rule.

use lapin::options::{
    ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions, QueueDeclareOptions,
    QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Connection, ConnectionProperties, ExchangeKind};

pub fn amqp_url() -> String {
    std::env::var("AMQP_URL").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// A channel on the shared server, or `None` (after the skip message).
pub async fn shared_channel() -> Option<(Connection, Channel)> {
    let connection = match Connection::connect(&amqp_url(), ConnectionProperties::default()).await {
        Ok(connection) => connection,
        Err(error) => return super::unavailable("RabbitMQ", error),
    };
    let channel = connection.create_channel().await.expect("a channel");
    Some((connection, channel))
}

/// Declares the durable topic exchange `exchange` and the quorum queue `queue` bound to it
/// for `binding_key`, as an operator provisions them before the services start.
pub async fn provision(channel: &Channel, exchange: &str, queue: &str, binding_key: &str) {
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    };
    channel
        .exchange_declare(
            exchange.into(),
            ExchangeKind::Topic,
            durable,
            FieldTable::default(),
        )
        .await
        .unwrap();
    let mut arguments = FieldTable::default();
    arguments.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    channel
        .queue_declare(queue.into(), durable, arguments)
        .await
        .unwrap();
    channel
        .queue_bind(
            queue.into(),
            exchange.into(),
            binding_key.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
}

/// Removes what [`provision`] made.
pub async fn remove(channel: &Channel, exchange: &str, queue: &str) {
    let _ = channel
        .queue_delete(queue.into(), QueueDeleteOptions::default())
        .await;
    let _ = channel
        .exchange_delete(exchange.into(), ExchangeDeleteOptions::default())
        .await;
}
