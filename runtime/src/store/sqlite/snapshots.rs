//! Snapshots in the `annals_snapshots` table.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::codec::micros_to_time;
use super::error;
use super::{SqliteStore, statements};
use crate::store::columns::to_i64;
use crate::store::{Snapshot, SnapshotStore, StoreError, check_stream_id};

#[async_trait]
impl SnapshotStore for SqliteStore {
    async fn load_snapshot(&self, stream_id: &str) -> Result<Option<Snapshot>, StoreError> {
        self.with_reader(|connection| {
            connection
                .prepare_cached(statements::LOAD_SNAPSHOT)
                .and_then(|mut statement| {
                    statement
                        .query_row([stream_id], |row| {
                            Ok(Snapshot {
                                stream_id: stream_id.to_owned(),
                                stream_version: row.get::<_, i64>(0)? as u64,
                                schema_version: row.get::<_, i64>(1)? as u32,
                                payload: row.get(2)?,
                                taken_at: micros_to_time(row.get(3)?),
                            })
                        })
                        .optional()
                })
                .map_err(error::from_sqlite)
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
                    ])
                })
                .map(|_| ())
                .map_err(error::from_sqlite)
        })
    }
}
