//! The in-memory snapshots.

use async_trait::async_trait;

use super::InMemoryStore;
use crate::store::{Snapshot, SnapshotStore, StoreError, check_stream_id};

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
