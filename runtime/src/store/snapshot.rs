//! Snapshots: the latest encoded state of an aggregate instance, per stream.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use uuid::Uuid;

use super::StoreError;

/// A stored snapshot of one aggregate instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The stream the snapshot summarises.
    pub stream_id: String,
    /// The stream version the state includes.
    pub stream_version: u64,
    /// The id of the event at `stream_version`, the last one the state includes: a load
    /// uses the snapshot only if the stream holds that very event there (a snapshot whose
    /// version was changed by hand, or restored apart from its events, is not).
    pub event_id: Uuid,
    /// The aggregate's snapshot schema version.
    pub schema_version: u32,
    /// The fingerprint of the state's shape (its fields and their types, as the derive
    /// saw them): a snapshot of another shape is not used, so a changed struct needs no
    /// manual version bump.
    pub shape: u64,
    /// The encoded state.
    pub payload: Vec<u8>,
    /// When the snapshot was taken.
    pub taken_at: DateTime<Utc>,
}

/// Storage for aggregate snapshots: the latest one per stream.
#[async_trait]
pub trait SnapshotStore: Send + Sync + 'static {
    /// The latest snapshot of `stream_id`, if any.
    async fn load_snapshot(&self, stream_id: &str) -> Result<Option<Snapshot>, StoreError>;
    /// Stores `snapshot`, replacing an older one of the same stream; a snapshot of a lower
    /// stream version than the stored one changes nothing (a slow writer must not replace a
    /// newer snapshot with an older one).
    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError>;
}
