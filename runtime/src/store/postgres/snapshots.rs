//! Snapshots in the `{schema}.snapshots` table.

use async_trait::async_trait;

use super::PostgresStore;
use super::codec::read_snapshot;
use crate::store::columns::to_i64;
use crate::store::{Snapshot, SnapshotStore, StoreError, check_stream_id};

#[async_trait]
impl SnapshotStore for PostgresStore {
    async fn load_snapshot(&self, stream_id: &str) -> Result<Option<Snapshot>, StoreError> {
        let rows = self.rows(&self.sql.load_snapshot, &[&stream_id]).await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        read_snapshot(row, stream_id).map(Some)
    }

    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        check_stream_id(&snapshot.stream_id)?;
        self.rows(
            &self.sql.save_snapshot,
            &[
                &snapshot.stream_id,
                &to_i64(snapshot.stream_version),
                &(snapshot.schema_version as i32),
                &snapshot.payload,
                &snapshot.taken_at,
                &snapshot.event_id,
                // The fingerprint's bits, as PostgreSQL's signed bigint.
                &(snapshot.shape as i64),
            ],
        )
        .await?;
        Ok(())
    }
}
