//! Consumers: messages from a broker's queue handed to a handler, settled after it.

mod letters;
mod options;
mod task;

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::watch;

pub use self::letters::ReplayError;
use self::letters::{Kept, Letters};
pub use self::options::ConsumerOptions;
use super::{IncomingMessage, MessageSource};
use crate::store::DeadLetterStore;

/// Why a handler did not handle a message: the consumer has it delivered again, up to its
/// maximum number of deliveries.
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;

/// What a consumer does with each message.
///
/// Delivery is at least once: a consumer that crashes after the handler's effects and
/// before the broker heard the acknowledgement receives the message again. Make the
/// effects idempotent by the message's id. For commands on an annals store that is one
/// call: [`Repository::execute_once_with`](crate::Repository::execute_once_with) with
/// [`IncomingMessage::key`] records the command once however often the message comes, and
/// with [`IncomingMessage::caused_metadata`] carries the correlation id forward and takes
/// the triggering event's id as causation id.
#[async_trait]
pub trait MessageHandler: Send + Sync + 'static {
    /// Handles one message.
    async fn handle(&self, message: &IncomingMessage) -> Result<(), HandlerError>;
}

/// Runs a [`MessageHandler`] over a [`MessageSource`].
///
/// A message given up (its envelope does not read, or its handler failed at each of
/// [`ConsumerOptions::max_deliveries`] deliveries) is recorded in the dead letters, owner
/// `consumer:{source name}`, with the message as received and the cause, before the broker
/// is told never to deliver it again (JetStream has no dead-letter queue of its own).
pub struct Consumer<M, H, D> {
    source: M,
    handler: H,
    dead_letters: D,
    options: ConsumerOptions,
}

impl<M: MessageSource, H: MessageHandler, D: DeadLetterStore> Consumer<M, H, D> {
    /// A consumer of `source`'s messages, handled by `handler`, that keeps the messages it
    /// gives up in `dead_letters`, with the default options.
    pub fn new(source: M, handler: H, dead_letters: D) -> Self {
        Consumer {
            source,
            handler,
            dead_letters,
            options: ConsumerOptions::default(),
        }
    }

    /// Sets the options.
    pub fn with_options(mut self, options: ConsumerOptions) -> Self {
        self.options = options;
        self
    }

    /// Starts consuming in a task of its own.
    pub fn spawn(self) -> ConsumerHandle
    where
        D: Clone,
    {
        let shared = Arc::new(Shared {
            status: watch::Sender::new(ConsumerStatus::default()),
            stop: watch::Sender::new(false),
        });
        let handler = Arc::new(self.handler);
        let letters = Arc::new(Kept {
            handler: Arc::clone(&handler),
            store: self.dead_letters.clone(),
            owner: format!("consumer:{}", self.source.name()),
        });
        let task = tokio::spawn(task::run(
            self.source,
            handler,
            self.dead_letters,
            self.options,
            Arc::clone(&shared),
        ));
        ConsumerHandle {
            shared,
            task,
            letters,
        }
    }
}

/// What a consumer has done.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConsumerStatus {
    /// Messages handled and acknowledged.
    pub handled: u64,
    /// Deliveries whose handler failed (each is delivered again, up to the maximum).
    pub failed: u64,
    /// Messages given up (and kept in the dead letters): undecodable, or failing at their
    /// last delivery.
    pub given_up: u64,
    /// The last failure: the message's id (when it reads) and the cause.
    pub last_failure: Option<(Option<uuid::Uuid>, String)>,
    /// Whether the broker is unreachable at the moment.
    pub unavailable: Option<String>,
    /// Stopped by its handle.
    pub stopped: bool,
}

#[derive(Debug)]
struct Shared {
    status: watch::Sender<ConsumerStatus>,
    stop: watch::Sender<bool>,
}

/// A running consumer.
pub struct ConsumerHandle {
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
    letters: Arc<dyn Letters>,
}

impl std::fmt::Debug for ConsumerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsumerHandle")
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}

impl ConsumerHandle {
    /// What it has done.
    pub fn status(&self) -> ConsumerStatus {
        self.shared.status.borrow().clone()
    }

    /// Waits until `handled` messages have been handled, or `timeout` passes; returns the
    /// status then.
    pub async fn wait_handled(&self, handled: u64, timeout: std::time::Duration) -> ConsumerStatus {
        let mut status = self.shared.status.subscribe();
        let _ = tokio::time::timeout(timeout, status.wait_for(|s| s.handled >= handled)).await;
        self.status()
    }

    /// The messages this consumer gave up, oldest first.
    pub async fn dead_letters(
        &self,
    ) -> Result<Vec<crate::store::DeadLetter>, crate::store::StoreError> {
        self.letters.list().await
    }

    /// Hands dead letter `letter`'s message to the handler again (after a fix); when it
    /// succeeds, the letter is removed. A message that still fails keeps its letter.
    pub async fn replay(&self, letter: uuid::Uuid) -> Result<(), ReplayError> {
        self.letters.replay(letter).await
    }

    /// Removes dead letter `letter` without handling it; `false` when there is none.
    pub async fn discard(&self, letter: uuid::Uuid) -> Result<bool, crate::store::StoreError> {
        self.letters.discard(letter).await
    }

    /// Stops consuming after the message in hand, and waits for the task to end.
    pub async fn stop(self) {
        self.shared.stop.send_replace(true);
        let _ = self.task.await;
    }
}
