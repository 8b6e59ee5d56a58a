//! An in-memory event store and snapshot store, for tests, examples and prototypes.
//!
//! [`InMemoryStore`] implements the full storage model of [`EventStore`] and
//! [`SnapshotStore`]: a 1-based global position giving the total order, 1-based gap-free
//! stream versions, atomic appends with an expected-version check, and the latest snapshot
//! per stream. Nothing is persisted: the data lives as long as the last clone of the handle.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;
use chrono::Utc;
use tokio::sync::watch;

use super::{
    AppendResult, EventFilter, EventStore, ExpectedVersion, NewEvent, RecordedEvent, Snapshot,
    SnapshotStore, StoreError, StreamVisitor,
};

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
/// use annals::{EventFilter, EventStore, ExpectedVersion, InMemoryStore, Metadata, NewEvent};
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
    /// The head position, published after each append (under the write lock, so receivers
    /// only ever see it grow).
    head: watch::Sender<u64>,
}

#[derive(Default)]
struct State {
    /// The global log: the event at index `i` has position `i + 1`.
    log: Vec<RecordedEvent>,
    /// Per stream, the log index of each event: the event of version `v` is at `[v - 1]`.
    streams: HashMap<String, Vec<usize>>,
    /// The latest snapshot of each stream.
    snapshots: HashMap<String, Snapshot>,
    /// Projection checkpoints (for read models kept elsewhere).
    checkpoints: HashMap<String, u64>,
}

impl State {
    fn stream_version(&self, stream_id: &str) -> u64 {
        self.streams
            .get(stream_id)
            .map_or(0, |indices| indices.len() as u64)
    }
}

impl InMemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        let (head, _) = watch::channel(0);
        InMemoryStore {
            shared: Arc::new(Shared {
                state: RwLock::new(State::default()),
                head,
            }),
        }
    }

    /// A receiver of the head position (the position of the last event, 0 when empty).
    ///
    /// The receiver starts at the current head and is notified after each append, so a
    /// live reader can wait with [`watch::Receiver::changed`] and then
    /// [`read_all`](EventStore::read_all) from the position after the last one it handled.
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

fn check_stream_id(stream_id: &str) -> Result<(), StoreError> {
    if stream_id.is_empty() {
        return Err(StoreError::InvalidStreamId {
            stream_id: String::new(),
            reason: "a stream id must not be empty",
        });
    }
    Ok(())
}

/// Converts a 1-based version or position into a 0-based index (0 and 1 both mean "from the
/// start"); a value beyond `usize` saturates, which every caller treats as "past the end".
fn start_index(one_based: u64) -> usize {
    usize::try_from(one_based.saturating_sub(1)).unwrap_or(usize::MAX)
}

#[async_trait]
impl EventStore for InMemoryStore {
    async fn append(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        check_stream_id(stream_id)?;
        if events.is_empty() {
            return Err(StoreError::EmptyAppend {
                stream_id: stream_id.to_owned(),
            });
        }

        let mut guard = self.write();
        let state = &mut *guard;

        // Validate everything before the first mutation: the append is all or nothing.
        let current = state.stream_version(stream_id);
        if !expected.accepts(current) {
            return Err(StoreError::WrongExpectedVersion {
                stream_id: stream_id.to_owned(),
                expected,
                actual: current,
            });
        }

        // One timestamp for the whole append, taken under the lock and never earlier than the
        // previous append's, so `recorded_at` does not decrease along the global order even
        // if the wall clock steps back.
        let now = Utc::now();
        let recorded_at = match state.log.last() {
            Some(last) if last.recorded_at > now => last.recorded_at,
            _ => now,
        };

        let count = events.len();
        let first_index = state.log.len();
        state.log.reserve(count);

        let mut positions = Vec::with_capacity(count);
        for (offset, event) in events.into_iter().enumerate() {
            let index = first_index + offset;
            let position = index as u64 + 1;
            let stream_version = current + offset as u64 + 1;
            state.log.push(RecordedEvent {
                position,
                stream_id: stream_id.to_owned(),
                stream_version,
                event_id: event.event_id,
                event_type: event.event_type,
                schema_version: event.schema_version,
                payload: event.payload,
                metadata: event.metadata,
                recorded_at,
            });
            positions.push(position);
        }

        let appended = first_index..first_index + count;
        match state.streams.get_mut(stream_id) {
            Some(indices) => indices.extend(appended),
            None => {
                state
                    .streams
                    .insert(stream_id.to_owned(), appended.collect());
            }
        }

        let head = state.log.len() as u64;
        self.shared.head.send_replace(head);

        Ok(AppendResult {
            stream_version: current + count as u64,
            positions,
            recorded_at,
        })
    }

    async fn read_stream(
        &self,
        stream_id: &str,
        from_version: u64,
        max_count: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let state = self.read();
        let Some(indices) = state.streams.get(stream_id) else {
            return Ok(Vec::new());
        };
        // Versions are 1-based and gap-free, so version `v` is at `indices[v - 1]`.
        let Some(tail) = indices.get(start_index(from_version)..) else {
            return Ok(Vec::new());
        };
        let tail = &tail[..tail.len().min(max_count)];
        Ok(tail.iter().map(|&index| state.log[index].clone()).collect())
    }

    async fn visit_stream(
        &self,
        stream_id: &str,
        from_version: u64,
        max_count: usize,
        visitor: &mut StreamVisitor<'_>,
    ) -> Result<usize, StoreError> {
        let state = self.read();
        let Some(tail) = state
            .streams
            .get(stream_id)
            .and_then(|indices| indices.get(start_index(from_version)..))
        else {
            return Ok(0);
        };
        let tail = &tail[..tail.len().min(max_count)];
        for &index in tail {
            if visitor(state.log[index].as_event_ref()).is_break() {
                break;
            }
        }
        Ok(tail.len())
    }

    async fn read_all(
        &self,
        after_position: u64,
        max_count: usize,
        filter: &EventFilter,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let state = self.read();
        // Position `p` is at index `p - 1`, so the events after `p` start at index `p`.
        let after = usize::try_from(after_position).unwrap_or(usize::MAX);
        let Some(rest) = state.log.get(after..) else {
            return Ok(Vec::new());
        };
        if filter.event_types().is_none() {
            return Ok(rest[..rest.len().min(max_count)].to_vec());
        }
        // Skipped events are only looked at, never cloned.
        Ok(rest
            .iter()
            .filter(|event| filter.matches(&event.event_type))
            .take(max_count)
            .cloned()
            .collect())
    }

    fn subscribe(&self) -> Option<watch::Receiver<u64>> {
        Some(self.subscribe_head())
    }

    async fn visit_all(
        &self,
        after_position: u64,
        max_count: usize,
        filter: &EventFilter,
        visitor: &mut super::LogVisitor<'_>,
    ) -> Result<usize, StoreError> {
        let state = self.read();
        let after = usize::try_from(after_position).unwrap_or(usize::MAX);
        let Some(rest) = state.log.get(after..) else {
            return Ok(0);
        };
        let mut read = 0;
        for event in rest
            .iter()
            .filter(|event| filter.matches(&event.event_type))
            .take(max_count)
        {
            read += 1;
            if visitor(event).is_break() {
                break;
            }
        }
        Ok(read)
    }

    async fn stream_version(&self, stream_id: &str) -> Result<u64, StoreError> {
        Ok(self.read().stream_version(stream_id))
    }

    async fn head_position(&self) -> Result<u64, StoreError> {
        Ok(self.read().log.len() as u64)
    }
}

#[async_trait]
impl SnapshotStore for InMemoryStore {
    async fn load_snapshot(&self, stream_id: &str) -> Result<Option<Snapshot>, StoreError> {
        Ok(self.read().snapshots.get(stream_id).cloned())
    }

    /// Stores `snapshot` unless the stream already has one of a higher stream version (a
    /// slow writer must not replace a newer snapshot with an older one). A snapshot of the
    /// same version replaces the stored one.
    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        check_stream_id(&snapshot.stream_id)?;
        let mut state = self.write();
        match state.snapshots.get_mut(&snapshot.stream_id) {
            Some(stored) if stored.stream_version > snapshot.stream_version => {}
            Some(stored) => *stored = snapshot,
            None => {
                state.snapshots.insert(snapshot.stream_id.clone(), snapshot);
            }
        }
        Ok(())
    }
}

#[async_trait]
impl crate::projection::external::CheckpointStore for InMemoryStore {
    async fn checkpoint(&self, projection: &str) -> Result<u64, StoreError> {
        Ok(self
            .read()
            .checkpoints
            .get(projection)
            .copied()
            .unwrap_or(0))
    }

    async fn move_checkpoint(
        &self,
        projection: &str,
        from: u64,
        to: u64,
    ) -> Result<(), StoreError> {
        let mut state = self.write();
        let current = state.checkpoints.entry(projection.to_owned()).or_insert(0);
        if *current != from {
            return Err(StoreError::CheckpointMoved {
                projection: projection.to_owned(),
                expected: from,
            });
        }
        *current = to;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Metadata;

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
