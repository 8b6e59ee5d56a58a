//! Snapshots in the `annals_snapshots` table.

use async_trait::async_trait;
use rusqlite::params;

use super::codec::read_snapshot;
use super::error;
use super::{SqliteStore, statements};
use crate::store::columns::to_i64;
use crate::store::{Snapshot, SnapshotStore, StoreError, check_stream_id};

#[async_trait]
impl SnapshotStore for SqliteStore {
    async fn load_snapshot(&self, stream_id: &str) -> Result<Option<Snapshot>, StoreError> {
        self.with_reader(|connection| {
            let mut statement = connection
                .prepare_cached(statements::LOAD_SNAPSHOT)
                .map_err(error::from_sqlite)?;
            let mut rows = statement.query([stream_id]).map_err(error::from_sqlite)?;
            match rows.next().map_err(error::from_sqlite)? {
                None => Ok(None),
                Some(row) => read_snapshot(row, stream_id).map(Some),
            }
        })
    }

    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        check_stream_id(&snapshot.stream_id)?;
        self.with_writer(|connection| {
            connection
                .prepare_cached(statements::SAVE_SNAPSHOT)
                .and_then(|mut statement| {
                    statement.execute(params![
                        snapshot.stream_id,
                        to_i64(snapshot.stream_version),
                        snapshot.schema_version,
                        snapshot.payload,
                        snapshot.taken_at.timestamp_micros(),
                        snapshot.event_id.as_bytes(),
                        // The fingerprint's bits, as SQLite's signed integer.
                        snapshot.shape as i64,
                    ])
                })
                .map(|_| ())
                .map_err(error::from_sqlite)
        })
        .await
    }
}
