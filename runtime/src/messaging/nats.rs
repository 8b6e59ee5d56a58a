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
