//! RabbitMQ as a relay's broker and a consumer's source: a durable topic exchange,
//! persistent messages with publisher confirms, and quorum queues with manual
//! acknowledgements (their delivery count tells a consumer which delivery it holds).
//!
//! A connection that breaks is opened again at the next use: the relay and the consumer
//! retry with backoff meanwhile.

use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions,
    BasicRejectOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{
    BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, ExchangeKind,
};
use tokio::sync::Mutex;

use super::{Ack, Broker, BrokerError, Delivery, MessageSource, OutgoingMessage, Settle};

fn unavailable(error: impl std::fmt::Display) -> BrokerError {
    BrokerError::Unavailable(error.to_string())
}

/// A channel on a new connection to `uri`, the topic exchange `exchange` declared on it.
async fn open(uri: &str, exchange: &str) -> Result<(Connection, Channel), BrokerError> {
    let connection = Connection::connect(uri, ConnectionProperties::default())
        .await
        .map_err(|error| unavailable(format!("connecting to RabbitMQ: {error}")))?;
    let channel = connection.create_channel().await.map_err(unavailable)?;
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
        .map_err(|error| unavailable(format!("declaring exchange `{exchange}`: {error}")))?;
    Ok((connection, channel))
}

/// A durable topic exchange a relay publishes into: each message persistent, routed by its
/// subject, with its id as `message-id` and its envelope as headers, confirmed by the
/// broker.
///
/// ```no_run
/// use annals::messaging::rabbitmq::RabbitMqBroker;
///
/// let broker = RabbitMqBroker::new("amqp://guest:guest@127.0.0.1:5672/%2f", "orders");
/// ```
pub struct RabbitMqBroker {
    uri: String,
    exchange: String,
    channel: Mutex<Option<(Connection, Channel)>>,
}

impl std::fmt::Debug for RabbitMqBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RabbitMqBroker")
            .field("exchange", &self.exchange)
            .finish_non_exhaustive()
    }
}

impl RabbitMqBroker {
    /// Publishes into the topic exchange `exchange` (declared durable when missing) of the
    /// server at `uri`. Connects at the first use.
    pub fn new(uri: impl Into<String>, exchange: impl Into<String>) -> Self {
        RabbitMqBroker {
            uri: uri.into(),
            exchange: exchange.into(),
            channel: Mutex::new(None),
        }
    }

    /// The open channel, opened (with publisher confirms) when there is none.
    async fn channel(&self) -> Result<Channel, BrokerError> {
        let mut open_channel = self.channel.lock().await;
        if let Some((_, channel)) = &*open_channel
            && channel.status().connected()
        {
            return Ok(channel.clone());
        }
        let (connection, channel) = open(&self.uri, &self.exchange).await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(unavailable)?;
        *open_channel = Some((connection, channel.clone()));
        Ok(channel)
    }
}

#[async_trait]
impl Broker for RabbitMqBroker {
    /// Connects and declares the exchange.
    async fn prepare(&self) -> Result<(), BrokerError> {
        self.channel().await.map(drop)
    }

    async fn send(&self, message: OutgoingMessage) -> Result<Ack, BrokerError> {
        let channel = self.channel().await?;
        let mut headers = FieldTable::default();
        for (name, value) in message.headers {
            headers.insert(ShortString::from(name), AMQPValue::LongString(value.into()));
        }
        let properties = BasicProperties::default()
            .with_delivery_mode(2)
            .with_message_id(message.id.to_string().into())
            .with_headers(headers);
        let confirm = channel
            .basic_publish(
                self.exchange.as_str().into(),
                message.subject.into(),
                BasicPublishOptions::default(),
                &message.payload,
                properties,
            )
            .await
            .map_err(unavailable)?;
        Ok(Box::pin(async move {
            match confirm.await.map_err(unavailable)? {
                Confirmation::Ack(_) | Confirmation::NotRequested => Ok(()),
                // The broker could not store it (a queue's limit, a node down): later.
                Confirmation::Nack(_) => Err(unavailable("the broker did not confirm the message")),
            }
        }))
    }
}

/// A durable quorum queue, bound to a topic exchange, that a consumer receives from with
/// manual acknowledgements.
///
/// ```no_run
/// use annals::messaging::rabbitmq::RabbitMqSource;
///
/// // The queue `shipping`, bound to exchange `orders` for every `orders.placed` message.
/// let source = RabbitMqSource::new("amqp://guest:guest@127.0.0.1:5672/%2f", "orders", "shipping", "orders.placed");
/// ```
pub struct RabbitMqSource {
    uri: String,
    exchange: String,
    queue: String,
    binding_key: String,
    prefetch: u16,
    consuming: Option<(Connection, lapin::Consumer)>,
}

impl std::fmt::Debug for RabbitMqSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RabbitMqSource")
            .field("queue", &self.queue)
            .finish_non_exhaustive()
    }
}

impl RabbitMqSource {
    /// Receives from `queue` (a durable quorum queue, declared when missing), bound to
    /// the topic exchange `exchange` for `binding_key`. Connects at the first use.
    pub fn new(
        uri: impl Into<String>,
        exchange: impl Into<String>,
        queue: impl Into<String>,
        binding_key: impl Into<String>,
    ) -> Self {
        RabbitMqSource {
            uri: uri.into(),
            exchange: exchange.into(),
            queue: queue.into(),
            binding_key: binding_key.into(),
            prefetch: 64,
            consuming: None,
        }
    }

    /// Messages delivered and not yet acknowledged, at most (default 64).
    pub fn with_prefetch(mut self, messages: u16) -> Self {
        self.prefetch = messages.max(1);
        self
    }

    async fn consume(&self) -> Result<(Connection, lapin::Consumer), BrokerError> {
        let (connection, channel) = open(&self.uri, &self.exchange).await?;
        channel
            .basic_qos(self.prefetch, BasicQosOptions::default())
            .await
            .map_err(unavailable)?;
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
            .queue_declare(self.queue.as_str().into(), durable, arguments)
            .await
            .map_err(|error| unavailable(format!("declaring queue `{}`: {error}", self.queue)))?;
        channel
            .queue_bind(
                self.queue.as_str().into(),
                self.exchange.as_str().into(),
                self.binding_key.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(unavailable)?;
        let consumer = channel
            .basic_consume(
                self.queue.as_str().into(),
                format!("annals-{}", self.queue).into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(unavailable)?;
        Ok((connection, consumer))
    }
}

#[async_trait]
impl MessageSource for RabbitMqSource {
    /// The queue's name.
    fn name(&self) -> String {
        self.queue.clone()
    }

    async fn next(&mut self) -> Result<Delivery, BrokerError> {
        if self.consuming.is_none() {
            self.consuming = Some(self.consume().await?);
        }
        let Some((_, consumer)) = &mut self.consuming else {
            return Err(unavailable("not consuming"));
        };
        let delivery = match consumer.next().await {
            Some(Ok(delivery)) => delivery,
            // The connection broke: a new one next time.
            Some(Err(error)) => {
                self.consuming = None;
                return Err(unavailable(error));
            }
            None => {
                self.consuming = None;
                return Err(unavailable("the queue's consumer was cancelled"));
            }
        };
        let mut headers = Vec::new();
        let mut count = 0;
        if let Some(table) = delivery.properties.headers() {
            for (name, value) in table {
                match value {
                    AMQPValue::LongString(text) => headers.push((
                        name.as_str().to_owned(),
                        String::from_utf8_lossy(text.as_bytes()).into_owned(),
                    )),
                    AMQPValue::ShortString(text) => {
                        headers.push((name.as_str().to_owned(), text.as_str().to_owned()));
                    }
                    _ if name.as_str() == "x-delivery-count" => {
                        count = value.as_long_long_int().unwrap_or(0);
                    }
                    _ => {}
                }
            }
        }
        Ok(Delivery {
            subject: delivery.routing_key.as_str().to_owned(),
            payload: delivery.data.clone(),
            headers,
            // Quorum queues count the deliveries before this one.
            delivery: u32::try_from(count + 1).unwrap_or(u32::MAX),
            settle: Box::new(RabbitMqSettle(delivery)),
        })
    }
}

/// Settles a RabbitMQ delivery: ack, requeue after a delay, or reject.
struct RabbitMqSettle(lapin::message::Delivery);

#[async_trait]
impl Settle for RabbitMqSettle {
    async fn ack(self: Box<Self>) -> Result<(), BrokerError> {
        self.0
            .ack(BasicAckOptions::default())
            .await
            .map(drop)
            .map_err(unavailable)
    }

    /// Held for `delay` (counting against the prefetch), then requeued: RabbitMQ has no
    /// delayed requeue of its own.
    async fn retry(self: Box<Self>, delay: Duration) -> Result<(), BrokerError> {
        let delivery = self.0;
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let requeue = BasicNackOptions {
                requeue: true,
                ..Default::default()
            };
            if let Err(error) = delivery.nack(requeue).await {
                tracing::warn!(%error, "requeueing a failed message");
            }
        });
        Ok(())
    }

    async fn reject(self: Box<Self>) -> Result<(), BrokerError> {
        self.0
            .reject(BasicRejectOptions { requeue: false })
            .await
            .map(drop)
            .map_err(unavailable)
    }
}
