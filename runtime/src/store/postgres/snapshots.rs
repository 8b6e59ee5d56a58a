//! Snapshots in the `{schema}.snapshots` table.

use async_trait::async_trait;

use super::PostgresStore;
use super::error::backend;
use crate::store::columns::to_i64;
use crate::store::{Snapshot, SnapshotStore, StoreError, check_stream_id};

#[async_trait]
impl SnapshotStore for PostgresStore {
    async fn load_snapshot(&self, stream_id: &str) -> Result<Option<Snapshot>, StoreError> {
        let rows = self.rows(&self.sql.load_snapshot, &[&stream_id]).await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        Ok(Some(Snapshot {
            stream_id: stream_id.to_owned(),
            stream_version: row.try_get::<_, i64>(0).map_err(backend)? as u64,
            schema_version: row.try_get::<_, i32>(1).map_err(backend)? as u32,
            payload: row.try_get(2).map_err(backend)?,
            taken_at: row.try_get(3).map_err(backend)?,
        }))
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
            ],
        )
        .await?;
        Ok(())
    }
}
