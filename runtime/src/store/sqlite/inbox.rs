//! Consumers' inboxes in the `annals_inbox` table.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};
use uuid::Uuid;

use super::codec::now_micros;
use super::read_model::execute_all;
use super::{SqliteStore, error, statements};
use crate::store::{InboxStore, SqlStatement, StoreError};

#[async_trait]
impl InboxStore for SqliteStore {
    async fn inbox_holds(&self, consumer: &str, message_id: Uuid) -> Result<bool, StoreError> {
        self.with_reader(|connection| {
            connection
                .prepare_cached(statements::INBOX_HOLDS)
                .and_then(|mut statement| {
                    statement
                        .query_row(params![consumer, message_id.as_bytes()], |_| Ok(()))
                        .optional()
                })
                .map(|found| found.is_some())
                .map_err(error::from_sqlite)
        })
    }

    async fn commit_message(
        &self,
        consumer: &str,
        message_id: Uuid,
        statements: Vec<SqlStatement>,
    ) -> Result<bool, StoreError> {
        self.write_transaction(|tx| {
            let added = tx
                .prepare_cached(statements::ADD_TO_INBOX)
                .and_then(|mut statement| {
                    statement.execute(params![consumer, message_id.as_bytes(), now_micros().1])
                })
                .map_err(error::from_sqlite)?;
            if added == 0 {
                return Ok(false);
            }
            execute_all(tx, &statements)?;
            Ok(true)
        })
        .await
    }
}
