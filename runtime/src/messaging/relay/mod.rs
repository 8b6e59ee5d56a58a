//! The relay: publishes a publisher's messages after their events commit, from a checkpoint
//! of its own, so the log itself is the outbox.

mod handle;
mod options;
mod parking;
mod shared;
mod status;
mod task;

use std::collections::VecDeque;
use std::sync::Arc;

pub use self::handle::{RelayHandle, RelayWaitError};
pub use self::options::RelayOptions;
pub use self::parking::DeadLetterError;
use self::shared::Shared;
pub use self::status::{RelayFailure, RelayStatus};
use super::{Broker, Publisher};
use crate::store::{CheckpointStore, DeadLetterStore, EventFilter, EventStore, StoreError};

/// Publishes the messages of one [`Publisher`] to a [`Broker`], after their events commit.
///
/// Events commit with the aggregate's state, so the log is the outbox: no second table, no
/// dual write. The relay reads the events the publisher consumes after its checkpoint,
/// keeps many messages in flight (one per stream at a time), and moves its checkpoint only
/// up to the highest position below which every message is acknowledged. Delivery is at least once: a relay restarted
/// after a crash sends again what it had not checkpointed, with the same message ids
/// ([`OutgoingMessage::id`](super::OutgoingMessage::id)), which the broker's deduplication
/// and the consumers' inboxes recognise. Messages leave in the log's order; a broker that
/// fails makes the relay back off and send again from the first unacknowledged message, so
/// a stream's messages never overtake each other.
///
/// ```
/// # use annals::messaging::{MappingError, Message, Publish, Publisher};
/// # use annals::{Event, Recorded};
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
/// # struct Placed { total_cents: i64 }
/// # #[derive(Event, Clone, Debug, PartialEq)]
/// # enum OrderEvent { Placed(Placed) }
/// # #[derive(Publisher)]
/// # #[publisher(name = "orders", events(OrderEvent))]
/// # struct OrderMessages;
/// # impl Publish<Placed> for OrderMessages {
/// #     fn publish(&self, placed: Recorded<'_, Placed>) -> Result<Option<Message>, MappingError> {
/// #         Ok(Some(Message::json("orders.placed", "OrderPlaced", 1, &*placed)?))
/// #     }
/// # }
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
/// use annals::messaging::{Ack, Broker, BrokerError, OutgoingMessage, Relay};
/// use annals::store::{EventStore, ExpectedVersion, InMemoryStore, NewEvent};
///
/// /// A broker that keeps what it is sent (a real one: `JetStreamBroker`, `RabbitMqBroker`).
/// #[derive(Clone, Default)]
/// struct Kept(Arc<Mutex<Vec<OutgoingMessage>>>);
///
/// #[annals::async_trait]
/// impl Broker for Kept {
///     async fn send(&self, message: OutgoingMessage) -> Result<Ack, BrokerError> {
///         self.0.lock().unwrap().push(message);
///         Ok(Box::pin(async { Ok(()) }))
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = InMemoryStore::new();
/// let broker = Kept::default();
/// let relay = Relay::new(store.clone(), broker.clone(), OrderMessages).spawn().await?;
///
/// let placed = OrderEvent::Placed(Placed { total_cents: 2_500 });
/// let appended = store.append("order-1", ExpectedVersion::Any, vec![placed.to_new_event(Default::default())?]).await?;
/// relay.wait_for(appended.last_position(), Duration::from_secs(5)).await?;
///
/// let sent = broker.0.lock().unwrap();
/// assert_eq!(sent[0].subject, "orders.placed");
/// assert_eq!(sent[0].header("annals-stream-id"), Some("order-1"));
/// # drop(sent);
/// relay.stop().await;
/// # Ok(()) }
/// ```
pub struct Relay<S, B, P> {
    store: S,
    broker: Arc<B>,
    publisher: P,
    options: RelayOptions,
}

impl<S, B, P> std::fmt::Debug for Relay<S, B, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("publisher", &std::any::type_name::<P>())
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl<S, B, P> Relay<S, B, P>
where
    S: EventStore + CheckpointStore + DeadLetterStore + Clone,
    B: Broker,
    P: Publisher,
{
    /// A relay of `publisher`'s messages from `store` to `broker`, with the default
    /// options. It reads the store [`for_workers`](EventStore::for_workers).
    ///
    /// # Panics
    ///
    /// When another event enum of the store (see [`Catalog`](crate::store::Catalog))
    /// stores events under a name the publisher reads: its mappings would be handed that
    /// enum's events.
    #[track_caller]
    pub fn new(store: S, broker: B, publisher: P) -> Self {
        for (owner, names) in P::consumed_enums() {
            if let Err(error) = store.catalog().claim_event_names(&names, owner) {
                panic!("publisher `{}`: {error}", P::NAME);
            }
        }
        Relay {
            store: store.for_workers(),
            broker: Arc::new(broker),
            publisher,
            options: RelayOptions::default(),
        }
    }

    /// Sets the options.
    pub fn with_options(mut self, options: RelayOptions) -> Self {
        self.options = options;
        self
    }

    /// Starts the relay in a task of its own, from its stored checkpoint: prepares the
    /// broker (retrying while it is unavailable), then publishes.
    pub async fn spawn(self) -> Result<RelayHandle, StoreError> {
        let checkpoint = self.store.checkpoint(&P::checkpoint_key()).await?;
        let owner = task::Relay::<S, B, P>::owner();
        let parked = parking::parked_streams(&self.store, &owner).await?;
        let shared = Arc::new(Shared::new(P::NAME, checkpoint));
        let (requests, requested) = tokio::sync::mpsc::unbounded_channel();
        let relay = task::Relay {
            store: self.store.clone(),
            broker: self.broker,
            publisher: self.publisher,
            options: self.options,
            shared: Arc::clone(&shared),
            filter: EventFilter::types(P::event_types()),
            saved: checkpoint,
            acked: checkpoint,
            read: checkpoint,
            buffer: VecDeque::new(),
            in_flight: VecDeque::new(),
            streams_in_flight: Default::default(),
            caught_up: false,
            parked,
            requests: requested,
        };
        let dead_letters: Arc<dyn DeadLetterStore> = Arc::new(self.store.clone());
        let watched = Arc::clone(&shared);
        let task = tokio::spawn(async move {
            if let Err(panic) = crate::caught::caught(relay.run()).await {
                tracing::error!(publisher = P::NAME, %panic, "the relay's task died");
                watched
                    .status
                    .send_replace(RelayStatus::Failing(RelayFailure {
                        publisher: P::NAME,
                        position: watched.published.borrow().saturating_add(1),
                        stream_id: None,
                        message: format!("the relay's task died: {panic}"),
                        attempts: 1,
                    }));
            }
        });
        Ok(RelayHandle {
            shared,
            task,
            requests,
            dead_letters,
            owner,
        })
    }
}
