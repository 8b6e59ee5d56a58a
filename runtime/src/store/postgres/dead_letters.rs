//! Dead letters in the `{schema}.dead_letters` table.

use async_trait::async_trait;
use tokio_postgres::Row;
use uuid::Uuid;

use super::PostgresStore;
use super::error::backend;
use crate::store::columns::to_i64;
use crate::store::{DeadLetter, DeadLetterStore, StoreError};

#[async_trait]
impl DeadLetterStore for PostgresStore {
    async fn add_dead_letter(&self, letter: &DeadLetter) -> Result<bool, StoreError> {
        let headers = serde_json::to_string(&letter.headers).map_err(StoreError::backend)?;
        let added = self
            .rows(
                &self.sql.add_dead_letter,
                &[
                    &letter.id,
                    &letter.owner,
                    &letter.position.map(to_i64),
                    &letter.stream_id,
                    &letter.event_id,
                    &letter.message_id,
                    &letter.subject,
                    &letter.payload,
                    &headers,
                    &letter.error,
                    &letter.parked,
                    &letter.recorded_at,
                ],
            )
            .await?;
        Ok(!added.is_empty())
    }

    async fn dead_letters(&self, owner: &str) -> Result<Vec<DeadLetter>, StoreError> {
        let rows = self.rows(&self.sql.dead_letters, &[&owner]).await?;
        rows.iter().map(read_letter).collect()
    }

    async fn remove_dead_letter(&self, owner: &str, id: Uuid) -> Result<bool, StoreError> {
        let removed = self
            .rows(&self.sql.remove_dead_letter, &[&owner, &id])
            .await?;
        Ok(!removed.is_empty())
    }
}

/// One row of `dead_letters`.
fn read_letter(row: &Row) -> Result<DeadLetter, StoreError> {
    let headers: String = row.try_get(8).map_err(backend)?;
    Ok(DeadLetter {
        id: row.try_get(0).map_err(backend)?,
        owner: row.try_get(1).map_err(backend)?,
        position: row
            .try_get::<_, Option<i64>>(2)
            .map_err(backend)?
            .map(|p| p as u64),
        stream_id: row.try_get(3).map_err(backend)?,
        event_id: row.try_get(4).map_err(backend)?,
        message_id: row.try_get(5).map_err(backend)?,
        subject: row.try_get(6).map_err(backend)?,
        payload: row.try_get(7).map_err(backend)?,
        headers: serde_json::from_str(&headers).map_err(StoreError::backend)?,
        error: row.try_get(9).map_err(backend)?,
        parked: row.try_get(10).map_err(backend)?,
        recorded_at: row.try_get(11).map_err(backend)?,
    })
}
