//! An in-memory event store and snapshot store, for tests, examples and prototypes.
//!
//! [`InMemoryStore`] implements the full storage model of [`EventStore`] and
//! [`SnapshotStore`]: a 1-based global position giving the total order, 1-based gap-free
//! stream versions, atomic appends with an expected-version check, and the latest snapshot
//! per stream. Nothing is persisted: the data lives as long as the last clone of the handle.

mod checkpoints;
mod dead_letters;
mod event_store;
mod sagas;
mod snapshots;

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use tokio::sync::watch;
use uuid::Uuid;

use super::{Catalog, EventLocation, Head, RecordedEvent, Snapshot};

/// An event store and snapshot store held in memory.
///
/// The handle is cheap to clone, and every clone shares the same data: hand one clone to
/// a repository and keep another to inspect the log in a test.
///
/// Reading a stream uses a per-stream index, so it costs the events returned, not the size
/// of the whole log. Reads and appends take a short-lived lock and never block across an
/// `.await`.
///
/// # Example
///
/// ```
/// use annals::store::{EventFilter, EventStore, ExpectedVersion, InMemoryStore, Metadata, NewEvent};
///
/// let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// runtime.block_on(async {
///     let store = InMemoryStore::new();
///     let opened = NewEvent::new("AccountOpened", 1, br#"{"owner":"Ada"}"#.to_vec(), Metadata::default());
///     let deposited = NewEvent::new("MoneyDeposited", 1, br#"{"amount":10}"#.to_vec(), Metadata::default());
///
///     let result = store
///         .append("account-1", ExpectedVersion::NoStream, vec![opened, deposited])
///         .await
///         .unwrap();
///     assert_eq!(result.stream_version, 2);
///     assert_eq!(result.positions, vec![1, 2]);
///
///     // A second writer that still believes the stream is new gets a conflict.
///     let late = NewEvent::new("AccountOpened", 1, br#"{"owner":"Bob"}"#.to_vec(), Metadata::default());
///     let conflict = store.append("account-1", ExpectedVersion::NoStream, vec![late]).await;
///     assert!(conflict.unwrap_err().is_conflict());
///
///     let events = store.read_stream("account-1", 1, usize::MAX).await.unwrap();
///     assert_eq!(events.len(), 2);
///     assert_eq!(events[1].event_type, "MoneyDeposited");
///
///     let deposits = store
///         .read_all(0, 100, &EventFilter::types(["MoneyDeposited"]))
///         .await
///         .unwrap();
///     assert_eq!(deposits.len(), 1);
///     assert_eq!(deposits[0].position, 2);
/// });
/// ```
#[derive(Clone)]
pub struct InMemoryStore {
    shared: Arc<Shared>,
}

/// The data every clone of an [`InMemoryStore`] shares.
struct Shared {
    state: RwLock<State>,
    /// The head position, published after each append (under the write lock).
    head: Head,
    catalog: Catalog,
}

#[derive(Default)]
struct State {
    /// The global log: the event at index `i` has position `i + 1`.
    log: Vec<RecordedEvent>,
    /// Per stream, the log index of each event: the event of version `v` is at `[v - 1]`.
    streams: HashMap<String, Vec<usize>>,
    /// The log index of each event id: ids are unique in the store.
    event_ids: HashMap<Uuid, usize>,
    /// The latest snapshot of each stream.
    snapshots: HashMap<String, Snapshot>,
    /// Projection checkpoints (for read models kept elsewhere).
    checkpoints: HashMap<String, u64>,
    /// Relays' and consumers' dead letters.
    dead_letters: Vec<super::DeadLetter>,
    /// Open sagas waiting for time or an operator, by saga and instance (ordered: the
    /// listing is by instance id).
    open_sagas: std::collections::BTreeMap<(String, String), super::OpenSaga>,
}

impl State {
    fn stream_version(&self, stream_id: &str) -> u64 {
        self.streams
            .get(stream_id)
            .map_or(0, |indices| indices.len() as u64)
    }

    /// Where the events with `event_ids` are, for those the log holds.
    fn locate(&self, event_ids: impl IntoIterator<Item = Uuid>) -> Vec<EventLocation> {
        event_ids
            .into_iter()
            .filter_map(|event_id| self.event_ids.get(&event_id))
            .map(|&index| {
                let event = &self.log[index];
                EventLocation::new(
                    event.event_id,
                    event.stream_id.clone(),
                    event.stream_version,
                    event.position,
                    event.recorded_at,
                )
            })
            .collect()
    }
}

impl InMemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        InMemoryStore {
            shared: Arc::new(Shared {
                state: RwLock::new(State::default()),
                head: Head::new(0),
                catalog: Catalog::default(),
            }),
        }
    }

    /// A receiver of the head position (the position of the last event, 0 when empty).
    ///
    /// The receiver starts at the current head and is notified after each append, so a
    /// live reader can wait with [`watch::Receiver::changed`] and then
    /// [`read_all`](crate::store::EventStore::read_all) from the position after the last one it handled.
    /// Intermediate values may be skipped (only the latest head is kept), never events: the
    /// log itself is the source of truth.
    pub fn subscribe_head(&self) -> watch::Receiver<u64> {
        self.shared.head.subscribe()
    }

    /// Locks the state for reading. A panic in another thread while it held the lock cannot
    /// have left the state half-written (appends validate first, then only push), so a
    /// poisoned lock is recovered rather than propagated.
    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.shared
            .state
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Locks the state for writing, recovering a poisoned lock (see [`Self::read`]).
    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.shared
            .state
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for InMemoryStore {
    fn default() -> Self {
        InMemoryStore::new()
    }
}

impl std::fmt::Debug for InMemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.read();
        f.debug_struct("InMemoryStore")
            .field("events", &state.log.len())
            .field("streams", &state.streams.len())
            .field("snapshots", &state.snapshots.len())
            .finish()
    }
}

/// Converts a 1-based version or position into a 0-based index (0 and 1 both mean "from the
/// start"); a value beyond `usize` saturates, which every caller treats as "past the end".
fn start_index(one_based: u64) -> usize {
    usize::try_from(one_based.saturating_sub(1)).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{EventStore, ExpectedVersion, Metadata, NewEvent};

    fn event(n: u64) -> NewEvent {
        NewEvent::new(
            "Ticked",
            1,
            format!(r#"{{"n":{n}}}"#).into_bytes(),
            Metadata::default(),
        )
    }

    #[tokio::test]
    async fn a_poisoned_lock_is_recovered() {
        let store = InMemoryStore::new();
        store
            .append("s", ExpectedVersion::NoStream, vec![event(1)])
            .await
            .unwrap();

        let clone = store.clone();
        let panicked = std::thread::spawn(move || {
            let _guard = clone.write();
            panic!("a writer panics while holding the lock");
        })
        .join();
        assert!(panicked.is_err());
        assert!(store.shared.state.is_poisoned());

        let result = store
            .append("s", ExpectedVersion::Exact(1), vec![event(2)])
            .await
            .unwrap();
        assert_eq!(result.stream_version, 2);
        assert_eq!(
            store.read_stream("s", 1, usize::MAX).await.unwrap().len(),
            2
        );
        assert_eq!(store.head_position().await.unwrap(), 2);
        assert!(format!("{store:?}").contains("events: 2"));
    }
}
