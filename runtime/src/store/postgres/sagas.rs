//! Open sagas in the `{schema}.open_sagas` table.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio_postgres::Row;

use super::PostgresStore;
use super::error::backend;
use crate::store::columns::to_i64;
use crate::store::{OpenSaga, SagaStore, StoreError};

#[async_trait]
impl SagaStore for PostgresStore {
    async fn keep_open_saga(&self, open: &OpenSaga) -> Result<(), StoreError> {
        self.rows(
            &self.sql.keep_open_saga,
            &[
                &open.saga,
                &open.instance,
                &open.wake_at,
                &open.stuck,
                &open.updated_at,
            ],
        )
        .await
        .map(|_| ())
    }

    async fn forget_open_saga(&self, saga: &str, instance: &str) -> Result<(), StoreError> {
        self.rows(&self.sql.forget_open_saga, &[&saga, &instance])
            .await
            .map(|_| ())
    }

    async fn open_sagas(&self, saga: &str) -> Result<Vec<OpenSaga>, StoreError> {
        let rows = self.rows(&self.sql.open_sagas, &[&saga]).await?;
        rows.iter().map(read_open).collect()
    }

    async fn due_sagas(
        &self,
        saga: &str,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OpenSaga>, StoreError> {
        let limit = to_i64(limit as u64);
        let rows = self
            .rows(&self.sql.due_sagas, &[&saga, &now, &limit])
            .await?;
        rows.iter().map(read_open).collect()
    }
}

/// One row of `open_sagas` or `due_sagas`.
fn read_open(row: &Row) -> Result<OpenSaga, StoreError> {
    Ok(OpenSaga {
        saga: row.try_get(0).map_err(backend)?,
        instance: row.try_get(1).map_err(backend)?,
        wake_at: row.try_get(2).map_err(backend)?,
        stuck: row.try_get(3).map_err(backend)?,
        updated_at: row.try_get(4).map_err(backend)?,
    })
}
