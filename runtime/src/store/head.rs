//! The head of the log as the stores announce it to live readers.

use tokio::sync::watch;

/// The highest position a store has seen appended, announced to live readers
/// ([`EventStore::subscribe`](super::EventStore::subscribe)). Receivers only ever see it
/// grow; values in between may be skipped, never events (the log is the source of truth).
#[derive(Debug)]
pub(crate) struct Head {
    sender: watch::Sender<u64>,
}

impl Head {
    /// A head at `position`.
    pub(crate) fn new(position: u64) -> Self {
        Head {
            sender: watch::channel(position).0,
        }
    }

    /// Raises the head to `position`, waking receivers; a lower position changes nothing.
    pub(crate) fn advance(&self, position: u64) {
        self.sender.send_if_modified(|head| {
            let advanced = position > *head;
            if advanced {
                *head = position;
            }
            advanced
        });
    }

    /// Wakes receivers without moving the head (a notification that did not say where the
    /// head is: readers look).
    #[cfg(feature = "postgres")]
    pub(crate) fn wake(&self) {
        self.sender.send_modify(|_| {});
    }

    /// A receiver that starts at the current head.
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.sender.subscribe()
    }
}

/// Resolves when a store's wake-up ([`EventStore::subscribe`](super::EventStore::subscribe))
/// changes; never, when the store has none (readers then poll).
pub(crate) async fn head_changed(notifications: &mut Option<watch::Receiver<u64>>) {
    match notifications {
        Some(receiver) => {
            if receiver.changed().await.is_err() {
                *notifications = None;
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending::<()>().await,
    }
}
