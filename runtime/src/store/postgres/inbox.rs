//! Consumers' inboxes in the `{schema}.inbox` table.

use async_trait::async_trait;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use super::PostgresStore;
use super::error::failed;
use crate::store::{InboxStore, SqlStatement, StoreError};

#[async_trait]
impl InboxStore for PostgresStore {
    async fn inbox_holds(&self, consumer: &str, message_id: Uuid) -> Result<bool, StoreError> {
        let rows = self
            .rows(&self.sql.inbox_holds, &[&consumer, &message_id])
            .await?;
        Ok(!rows.is_empty())
    }

    async fn commit_message(
        &self,
        consumer: &str,
        message_id: Uuid,
        statements: Vec<SqlStatement>,
    ) -> Result<bool, StoreError> {
        let mut client = self.client().await?;
        let result = async {
            let tx = client.transaction().await?;
            // A second consumer of the same message waits here for the first's transaction,
            // then finds the row and stops.
            let added = tx
                .query(&self.sql.add_to_inbox, &[&consumer, &message_id])
                .await?;
            if added.is_empty() {
                return Ok(false);
            }
            for statement in &statements {
                let params: Vec<&(dyn ToSql + Sync)> = statement
                    .params
                    .iter()
                    .map(|p| p as &(dyn ToSql + Sync))
                    .collect();
                let prepared = tx.prepare_cached(&statement.sql).await?;
                tx.execute(&prepared, &params).await?;
            }
            tx.commit().await?;
            Ok(true)
        }
        .await;
        match result {
            Ok(committed) => Ok(committed),
            Err(error) => Err(failed(client, error)),
        }
    }
}
