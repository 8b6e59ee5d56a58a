//! Open sagas in the `annals_open_sagas` table.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Row, params};

use super::codec::micros_to_time;
use super::error;
use super::{SqliteStore, statements};
use crate::store::columns::to_i64;
use crate::store::{OpenSaga, SagaStore, StoreError};

#[async_trait]
impl SagaStore for SqliteStore {
    async fn keep_open_saga(&self, open: &OpenSaga) -> Result<(), StoreError> {
        self.with_writer(|connection| {
            connection
                .prepare_cached(statements::KEEP_OPEN_SAGA)
                .and_then(|mut statement| {
                    statement.execute(params![
                        open.saga,
                        open.instance,
                        open.wake_at.map(|at| at.timestamp_micros()),
                        open.stuck,
                        open.updated_at.timestamp_micros(),
                    ])
                })
                .map(|_| ())
                .map_err(error::from_sqlite)
        })
        .await
    }

    async fn forget_open_saga(&self, saga: &str, instance: &str) -> Result<(), StoreError> {
        self.with_writer(|connection| {
            connection
                .prepare_cached(statements::FORGET_OPEN_SAGA)
                .and_then(|mut statement| statement.execute(params![saga, instance]))
                .map(|_| ())
                .map_err(error::from_sqlite)
        })
        .await
    }

    async fn open_sagas(&self, saga: &str) -> Result<Vec<OpenSaga>, StoreError> {
        self.with_reader(|connection| {
            let mut statement = connection
                .prepare_cached(statements::OPEN_SAGAS)
                .map_err(error::from_sqlite)?;
            let rows = statement
                .query_map([saga], read_open)
                .map_err(error::from_sqlite)?;
            rows.map(|row| row.map_err(error::from_sqlite)).collect()
        })
    }

    async fn due_sagas(
        &self,
        saga: &str,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OpenSaga>, StoreError> {
        self.with_reader(|connection| {
            let mut statement = connection
                .prepare_cached(statements::DUE_SAGAS)
                .map_err(error::from_sqlite)?;
            let rows = statement
                .query_map(
                    params![saga, now.timestamp_micros(), to_i64(limit as u64)],
                    read_open,
                )
                .map_err(error::from_sqlite)?;
            rows.map(|row| row.map_err(error::from_sqlite)).collect()
        })
    }
}

/// One row of `OPEN_SAGAS` or `DUE_SAGAS`.
fn read_open(row: &Row<'_>) -> rusqlite::Result<OpenSaga> {
    let wake_at: Option<i64> = row.get(2)?;
    Ok(OpenSaga {
        saga: row.get(0)?,
        instance: row.get(1)?,
        wake_at: wake_at.map(micros_to_time),
        stuck: row.get(3)?,
        updated_at: micros_to_time(row.get(4)?),
    })
}
