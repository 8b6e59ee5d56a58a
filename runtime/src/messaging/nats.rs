//! NATS JetStream as a relay's broker: the stream created or checked at start, each message
//! published with `Nats-Msg-Id` (JetStream drops a message whose id it has seen within the
//! stream's duplicate window) and its publish acknowledgement awaited.

use async_nats::jetstream::context::{PublishError, PublishErrorKind};
use async_nats::jetstream::{self, stream};
use async_trait::async_trait;

use super::{Ack, Broker, BrokerError, OutgoingMessage};

/// A JetStream stream a relay publishes into.
///
/// ```no_run
/// use annals::messaging::nats::JetStreamBroker;
///
/// # async fn run() -> Result<(), annals::messaging::BrokerError> {
/// // The stream ORDERS holds every subject under `orders.`; it is created if it is missing.
/// let broker = JetStreamBroker::connect("127.0.0.1:4222", "ORDERS", ["orders.>"]).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct JetStreamBroker {
    context: jetstream::Context,
    stream: stream::Config,
}

impl JetStreamBroker {
    /// Connects to the NATS server at `url` for the stream `name` over `subjects`. The
    /// connection is retried in the background while the server is down, so a relay
    /// starts anyway and waits for it.
    pub async fn connect(
        url: &str,
        name: &str,
        subjects: impl IntoIterator<Item = impl Into<String>>,
    ) -> Result<Self, BrokerError> {
        let client = async_nats::ConnectOptions::new()
            .retry_on_initial_connect()
            .connect(url)
            .await
            .map_err(|error| BrokerError::Unavailable(format!("connecting to {url}: {error}")))?;
        let stream = stream::Config {
            name: name.to_owned(),
            subjects: subjects.into_iter().map(Into::into).collect(),
            ..Default::default()
        };
        Ok(JetStreamBroker::new(jetstream::new(client), stream))
    }

    /// Publishes through `context` into the stream `stream` describes (created with this
    /// configuration when it is missing).
    pub fn new(context: jetstream::Context, stream: stream::Config) -> Self {
        JetStreamBroker { context, stream }
    }

    /// The JetStream context, for consumers and checks.
    pub fn context(&self) -> &jetstream::Context {
        &self.context
    }
}

#[async_trait]
impl Broker for JetStreamBroker {
    /// Creates the stream, or checks that the existing one takes every configured subject.
    async fn prepare(&self) -> Result<(), BrokerError> {
        let mut stream = self
            .context
            .get_or_create_stream(self.stream.clone())
            .await
            .map_err(|error| {
                BrokerError::Unavailable(format!(
                    "creating or reading JetStream stream `{}`: {error}",
                    self.stream.name
                ))
            })?;
        let info = stream.info().await.map_err(|error| {
            BrokerError::Unavailable(format!(
                "reading JetStream stream `{}`: {error}",
                self.stream.name
            ))
        })?;
        let missing: Vec<&String> = self
            .stream
            .subjects
            .iter()
            .filter(|subject| !info.config.subjects.contains(subject))
            .collect();
        if !missing.is_empty() {
            return Err(BrokerError::Rejected(format!(
                "JetStream stream `{}` exists without subjects {missing:?} (it has {:?}): \
                 add them to the stream, or publish into another",
                self.stream.name, info.config.subjects
            )));
        }
        Ok(())
    }

    async fn send(&self, message: OutgoingMessage) -> Result<Ack, BrokerError> {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", message.id.to_string());
        for (name, value) in message.headers {
            headers.insert(name, value);
        }
        let ack = self
            .context
            .publish_with_headers(message.subject, headers, message.payload.into())
            .await
            .map_err(classify)?;
        Ok(Box::pin(
            async move { ack.await.map(drop).map_err(classify) },
        ))
    }
}

/// A payload over the server's limit is refused for good; anything else (no server, no
/// acknowledgement in time, no stream for the subject yet) may pass later.
fn classify(error: PublishError) -> BrokerError {
    match error.kind() {
        PublishErrorKind::MaxPayloadExceeded => BrokerError::Rejected(error.to_string()),
        PublishErrorKind::StreamNotFound => {
            BrokerError::Unavailable(format!("{error}: no JetStream stream takes this subject"))
        }
        _ => BrokerError::Unavailable(error.to_string()),
    }
}

/// A JetStream durable pull consumer a [`Consumer`](super::Consumer) receives from:
/// explicit acknowledgements, redelivery after a negative acknowledgement's delay (or
/// `ack_wait` when no acknowledgement came), termination of what the consumer gives up.
///
/// ```no_run
/// use annals::messaging::nats::JetStreamSource;
///
/// # async fn run() -> Result<(), annals::messaging::BrokerError> {
/// let client = async_nats::connect("127.0.0.1:4222").await.map_err(|e| {
///     annals::messaging::BrokerError::Unavailable(e.to_string())
/// })?;
/// let context = async_nats::jetstream::new(client);
/// // The durable consumer `shipping` of stream ORDERS, for the subjects under `orders.`.
/// let source = JetStreamSource::durable(&context, "ORDERS", "shipping", "orders.>").await?;
/// # Ok(()) }
/// ```
pub struct JetStreamSource {
    name: String,
    consumer: jetstream::consumer::Consumer<jetstream::consumer::pull::Config>,
    messages: Option<jetstream::consumer::pull::Stream>,
}

impl std::fmt::Debug for JetStreamSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JetStreamSource").finish_non_exhaustive()
    }
}

impl JetStreamSource {
    /// The durable consumer `name` of `stream` for `filter_subject`, created when it is
    /// missing (explicit acknowledgements, redelivery after 30 s without one).
    pub async fn durable(
        context: &jetstream::Context,
        stream: &str,
        name: &str,
        filter_subject: &str,
    ) -> Result<Self, BrokerError> {
        let config = jetstream::consumer::pull::Config {
            durable_name: Some(name.to_owned()),
            filter_subject: filter_subject.to_owned(),
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            ..Default::default()
        };
        JetStreamSource::with_config(context, stream, config).await
    }

    /// The consumer `config` describes on `stream`, created when it is missing.
    pub async fn with_config(
        context: &jetstream::Context,
        stream: &str,
        config: jetstream::consumer::pull::Config,
    ) -> Result<Self, BrokerError> {
        let unavailable = |error: &dyn std::fmt::Display| {
            BrokerError::Unavailable(format!("JetStream consumer on `{stream}`: {error}"))
        };
        let name = config.durable_name.clone().unwrap_or_default();
        let consumer = context
            .get_stream(stream)
            .await
            .map_err(|e| unavailable(&e))?
            .get_or_create_consumer(&name, config)
            .await
            .map_err(|e| unavailable(&e))?;
        Ok(JetStreamSource {
            name,
            consumer,
            messages: None,
        })
    }
}

#[async_trait]
impl super::MessageSource for JetStreamSource {
    /// The durable consumer's name.
    fn name(&self) -> String {
        self.name.clone()
    }

    async fn next(&mut self) -> Result<super::Delivery, BrokerError> {
        use futures_util::StreamExt;
        let messages = match &mut self.messages {
            Some(messages) => messages,
            None => self.messages.insert(
                self.consumer
                    .messages()
                    .await
                    .map_err(|error| BrokerError::Unavailable(error.to_string()))?,
            ),
        };
        let message = match messages.next().await {
            Some(Ok(message)) => message,
            // The stream of messages broke: a new one next time.
            Some(Err(error)) => {
                self.messages = None;
                return Err(BrokerError::Unavailable(error.to_string()));
            }
            None => {
                self.messages = None;
                return Err(BrokerError::Unavailable(
                    "the consumer's message stream ended".into(),
                ));
            }
        };
        let headers: Vec<(String, String)> = message
            .headers
            .iter()
            .flat_map(|headers| headers.iter())
            .flat_map(|(name, values)| {
                values
                    .iter()
                    .map(move |value| (name.to_string(), value.as_str().to_owned()))
            })
            .collect();
        let delivery = message
            .info()
            .map(|info| u32::try_from(info.delivered).unwrap_or(u32::MAX))
            .unwrap_or(1);
        Ok(super::Delivery {
            subject: message.subject.to_string(),
            payload: message.payload.to_vec(),
            headers,
            delivery,
            settle: Box::new(JetStreamSettle(message)),
        })
    }
}

/// Settles a JetStream delivery: ack, negative ack with a delay, or term.
struct JetStreamSettle(jetstream::Message);

#[async_trait]
impl super::Settle for JetStreamSettle {
    /// Waits for the server to confirm the acknowledgement: a consumer that dies right after
    /// gets nothing it acknowledged again.
    async fn ack(self: Box<Self>) -> Result<(), BrokerError> {
        self.0
            .double_ack()
            .await
            .map_err(|error| BrokerError::Unavailable(error.to_string()))
    }

    async fn retry(self: Box<Self>, delay: std::time::Duration) -> Result<(), BrokerError> {
        self.0
            .ack_with(jetstream::AckKind::Nak(Some(delay)))
            .await
            .map_err(|error| BrokerError::Unavailable(error.to_string()))
    }

    async fn reject(self: Box<Self>) -> Result<(), BrokerError> {
        self.0
            .ack_with(jetstream::AckKind::Term)
            .await
            .map_err(|error| BrokerError::Unavailable(error.to_string()))
    }
}
