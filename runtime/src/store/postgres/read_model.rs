//! Checkpoints and SQL read models, committed together in the store's database.

use async_trait::async_trait;
use tokio_postgres::types::ToSql;

use super::PostgresStore;
use super::codec::sql_value;
use super::error::failed;
use crate::store::columns::{self, to_i64};
use crate::store::{CheckpointStore, SqlStatement, SqlTarget, SqlValue, StoreError};

impl PostgresStore {
    /// In one transaction: `statements` (pipelined), then the checkpoint moved from `from` to
    /// `to`; `Ok(false)` (rolled back) when the checkpoint is not at `from`.
    async fn commit_in(
        &self,
        client: &mut deadpool_postgres::Object,
        checkpoint: &str,
        from: u64,
        to: u64,
        statements: &[SqlStatement],
    ) -> Result<bool, tokio_postgres::Error> {
        let tx = client.transaction().await?;
        let move_checkpoint = tx.prepare_cached(&self.sql.move_checkpoint).await?;
        let mut prepared = Vec::with_capacity(statements.len());
        for statement in statements {
            prepared.push(tx.prepare_cached(&statement.sql).await?);
        }
        // Pipelined: every statement, then the checkpoint's, is sent before the first answer
        // is awaited, so a batch costs one round trip instead of one per statement. They
        // still run in order on the server, inside the transaction.
        let params: Vec<Vec<&(dyn ToSql + Sync)>> = statements
            .iter()
            .map(|statement| {
                statement
                    .params
                    .iter()
                    .map(|p| p as &(dyn ToSql + Sync))
                    .collect()
            })
            .collect();
        let (from, to) = (to_i64(from), to_i64(to));
        let checkpoint_params: [&(dyn ToSql + Sync); 3] = [&checkpoint, &from, &to];
        let executions = prepared
            .iter()
            .zip(&params)
            .map(|(statement, params)| tx.execute(statement, params))
            .chain([tx.execute(&move_checkpoint, &checkpoint_params)]);
        let updated = futures_util::future::try_join_all(executions)
            .await?
            .pop()
            .unwrap_or(0);
        if updated == 0 {
            // No checkpoint yet: the first commit creates it, unless another runner did.
            let created = from == 0
                && tx
                    .execute(&self.sql.create_checkpoint, &[&checkpoint, &to])
                    .await?
                    == 1;
            if !created {
                return Ok(false);
            }
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Runs `statements` in one transaction, then resets checkpoint `reset` to 0 if given.
    /// The transaction holds the schema's read-model lock: read models' setup and reset
    /// statements (`CREATE TABLE IF NOT EXISTS`, ...) are not safe against a concurrent run
    /// of themselves, as when two instances start the same read model at once.
    async fn run_in_transaction(
        &self,
        statements: &[String],
        reset: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let result = async {
            let tx = client.transaction().await?;
            tx.execute(&self.sql.lock_read_models, &[&self.schema()])
                .await?;
            for statement in statements {
                tx.batch_execute(statement).await?;
            }
            if let Some(checkpoint) = reset {
                tx.execute(&self.sql.reset_checkpoint, &[&checkpoint])
                    .await?;
            }
            tx.commit().await
        }
        .await;
        result.map_err(|error| failed(client, error))
    }
}

#[async_trait]
impl CheckpointStore for PostgresStore {
    async fn checkpoint(&self, name: &str) -> Result<u64, StoreError> {
        let position = self.scalar(&self.sql.checkpoint, &[&name]).await?;
        columns::checkpoint(name, position)
    }

    async fn move_checkpoint(&self, name: &str, from: u64, to: u64) -> Result<bool, StoreError> {
        self.commit_projection(name, from, to, Vec::new()).await
    }
}

#[async_trait]
impl SqlTarget for PostgresStore {
    async fn prepare_read_model(&self, statements: &[String]) -> Result<(), StoreError> {
        self.run_in_transaction(statements, None).await
    }

    async fn publish_version(
        &self,
        projection: &str,
        version: u32,
        views: &[(String, String)],
    ) -> Result<bool, StoreError> {
        let s = format!("\"{}\"", self.schema);
        let version = i32::try_from(version).map_err(StoreError::backend)?;
        let mut client = self.client().await?;
        let result = async {
            let tx = client.transaction().await?;
            // The row is locked until the switch commits: runners of two versions switching
            // at once take turns, and the older one then sees the newer live.
            tx.execute(&self.sql.claim_live_version, &[&projection])
                .await?;
            let live: i32 = tx
                .query_one(&self.sql.lock_live_version, &[&projection])
                .await?
                .get(0);
            if live >= version {
                return Ok(false);
            }
            for (view, table) in views {
                tx.batch_execute(&format!(
                    "DROP VIEW IF EXISTS {s}.{view}; CREATE VIEW {s}.{view} AS SELECT * FROM {s}.{table};"
                ))
                .await?;
            }
            tx.execute(&self.sql.set_live_version, &[&projection, &version])
                .await?;
            tx.commit().await?;
            Ok(true)
        }
        .await;
        result.map_err(|error| failed(client, error))
    }

    async fn commit_projection(
        &self,
        checkpoint: &str,
        from: u64,
        to: u64,
        statements: Vec<SqlStatement>,
    ) -> Result<bool, StoreError> {
        let mut client = self.client().await?;
        match self
            .commit_in(&mut client, checkpoint, from, to, &statements)
            .await
        {
            Ok(committed) => Ok(committed),
            Err(error) => Err(failed(client, error)),
        }
    }

    async fn query(
        &self,
        sql: &str,
        params: &[SqlValue],
    ) -> Result<Vec<Vec<SqlValue>>, StoreError> {
        let params: Vec<&(dyn ToSql + Sync)> =
            params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        let rows = self.rows(sql, &params).await?;
        rows.iter()
            .map(|row| (0..row.len()).map(|index| sql_value(row, index)).collect())
            .collect()
    }

    async fn reset_projection(
        &self,
        checkpoint: &str,
        statements: &[String],
    ) -> Result<(), StoreError> {
        self.run_in_transaction(statements, Some(checkpoint)).await
    }
}
