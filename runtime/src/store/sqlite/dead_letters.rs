//! Dead letters in the `annals_dead_letters` table.

use async_trait::async_trait;
use rusqlite::{Row, params};
use uuid::Uuid;

use super::codec::micros_to_time;
use super::error;
use super::{SqliteStore, statements};
use crate::store::columns::to_i64;
use crate::store::{DeadLetter, DeadLetterStore, StoreError};

#[async_trait]
impl DeadLetterStore for SqliteStore {
    async fn add_dead_letter(&self, letter: &DeadLetter) -> Result<bool, StoreError> {
        let headers = serde_json::to_string(&letter.headers).map_err(StoreError::backend)?;
        self.with_writer(|connection| {
            connection
                .prepare_cached(statements::ADD_DEAD_LETTER)
                .and_then(|mut statement| {
                    statement.execute(params![
                        letter.id.as_bytes(),
                        letter.owner,
                        letter.position.map(to_i64),
                        letter.stream_id,
                        letter.event_id.as_ref().map(Uuid::as_bytes),
                        letter.message_id.as_ref().map(Uuid::as_bytes),
                        letter.subject,
                        letter.payload,
                        headers,
                        letter.error,
                        letter.parked,
                        letter.recorded_at.timestamp_micros(),
                    ])
                })
                .map(|added| added == 1)
                .map_err(error::from_sqlite)
        })
        .await
    }

    async fn dead_letters(&self, owner: &str) -> Result<Vec<DeadLetter>, StoreError> {
        self.with_reader(|connection| {
            let mut statement = connection
                .prepare_cached(statements::DEAD_LETTERS)
                .map_err(error::from_sqlite)?;
            let rows = statement
                .query_map([owner], read_letter)
                .map_err(error::from_sqlite)?;
            rows.map(|row| row.map_err(error::from_sqlite)?).collect()
        })
    }

    async fn remove_dead_letter(&self, owner: &str, id: Uuid) -> Result<bool, StoreError> {
        self.with_writer(|connection| {
            connection
                .prepare_cached(statements::REMOVE_DEAD_LETTER)
                .and_then(|mut statement| statement.execute(params![owner, id.as_bytes()]))
                .map(|removed| removed == 1)
                .map_err(error::from_sqlite)
        })
        .await
    }
}

/// One row of `DEAD_LETTERS`; a column that does not read is a backend error.
fn read_letter(row: &Row<'_>) -> rusqlite::Result<Result<DeadLetter, StoreError>> {
    let uuid = |bytes: Option<Vec<u8>>| -> Result<Option<Uuid>, StoreError> {
        bytes
            .map(|bytes| Uuid::from_slice(&bytes).map_err(StoreError::backend))
            .transpose()
    };
    let id: Vec<u8> = row.get(0)?;
    let headers: String = row.get(8)?;
    let position: Option<i64> = row.get(2)?;
    let (event_id, message_id) = (row.get(4)?, row.get(5)?);
    let letter = (|| {
        Ok(DeadLetter {
            id: Uuid::from_slice(&id).map_err(StoreError::backend)?,
            owner: row.get(1).map_err(error::from_sqlite)?,
            position: position.map(|p| p as u64),
            stream_id: row.get(3).map_err(error::from_sqlite)?,
            event_id: uuid(event_id)?,
            message_id: uuid(message_id)?,
            subject: row.get(6).map_err(error::from_sqlite)?,
            payload: row.get(7).map_err(error::from_sqlite)?,
            headers: serde_json::from_str(&headers).map_err(StoreError::backend)?,
            error: row.get(9).map_err(error::from_sqlite)?,
            parked: row.get(10).map_err(error::from_sqlite)?,
            recorded_at: micros_to_time(row.get(11).map_err(error::from_sqlite)?),
        })
    })();
    Ok(letter)
}
