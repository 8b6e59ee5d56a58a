//! Checkpoints and SQL read models, committed together in the store's file.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::codec::{now_micros, numbered_placeholders, sql_value};
use super::error;
use super::{SqliteStore, statements};
use crate::store::columns::{self, to_i64};
use crate::store::{CheckpointStore, SqlStatement, SqlTarget, SqlValue, StoreError};

/// Moves checkpoint `name` from `from` to `to` inside `tx`; `false` when another runner
/// moved it (the caller then rolls back).
fn move_checkpoint(tx: &Connection, name: &str, from: u64, to: u64) -> Result<bool, StoreError> {
    let now = now_micros().1;
    let updated = tx
        .prepare_cached(statements::MOVE_CHECKPOINT)
        .and_then(|mut statement| statement.execute(params![name, to_i64(from), to_i64(to), now]))
        .map_err(error::from_sqlite)?;
    if updated == 1 {
        return Ok(true);
    }
    if from != 0 {
        return Ok(false);
    }
    // No checkpoint yet: the first commit creates it, unless another runner just did.
    match tx.execute(
        statements::CREATE_CHECKPOINT,
        params![name, to_i64(to), now],
    ) {
        Ok(_) => Ok(true),
        Err(rusqlite::Error::SqliteFailure(error, _))
            if error.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            Ok(false)
        }
        Err(error) => Err(error::from_sqlite(error)),
    }
}

/// Runs `statements` one after the other in `tx`. A batch repeats a few statement texts
/// many times: each is rewritten and prepared once per batch, not once per event.
pub(super) fn execute_all(tx: &Connection, statements: &[SqlStatement]) -> Result<(), StoreError> {
    let mut prepared: Vec<(&str, rusqlite::CachedStatement<'_>)> = Vec::new();
    for statement in statements {
        let index = match prepared.iter().position(|(sql, _)| *sql == &*statement.sql) {
            Some(index) => index,
            None => {
                let sql = numbered_placeholders(&statement.sql);
                let cached = tx.prepare_cached(&sql).map_err(error::from_sqlite)?;
                prepared.push((&statement.sql, cached));
                prepared.len() - 1
            }
        };
        prepared[index]
            .1
            .execute(rusqlite::params_from_iter(&statement.params))
            .map_err(error::from_sqlite)?;
    }
    Ok(())
}

impl SqliteStore {
    /// Runs `work` in an `IMMEDIATE` transaction of the writer, committing when it returns
    /// `Ok(true)`, rolling back otherwise.
    pub(super) async fn write_transaction(
        &self,
        mut work: impl FnMut(&Connection) -> Result<bool, StoreError>,
    ) -> Result<bool, StoreError> {
        self.with_writer(|connection| {
            let tx = connection
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(error::from_sqlite)?;
            let commit = work(&tx)?;
            if commit {
                tx.commit().map_err(error::from_sqlite)?;
            }
            Ok(commit)
        })
        .await
    }
}

#[async_trait]
impl CheckpointStore for SqliteStore {
    async fn checkpoint(&self, name: &str) -> Result<u64, StoreError> {
        self.with_reader(|connection| {
            connection
                .prepare_cached(statements::CHECKPOINT)
                .and_then(|mut statement| {
                    statement
                        .query_row([name], |row| row.get::<_, i64>(0))
                        .optional()
                })
                .map_err(error::from_sqlite)
                .and_then(|position| columns::checkpoint(name, position.unwrap_or(0)))
        })
    }

    async fn move_checkpoint(&self, name: &str, from: u64, to: u64) -> Result<bool, StoreError> {
        self.write_transaction(|tx| move_checkpoint(tx, name, from, to))
            .await
    }
}

#[async_trait]
impl SqlTarget for SqliteStore {
    async fn prepare_read_model(&self, statements: &[String]) -> Result<(), StoreError> {
        self.write_transaction(|tx| {
            for statement in statements {
                tx.execute_batch(statement).map_err(error::from_sqlite)?;
            }
            Ok(true)
        })
        .await
        .map(drop)
    }

    async fn publish_version(
        &self,
        projection: &str,
        version: u32,
        views: &[(String, String)],
    ) -> Result<bool, StoreError> {
        self.write_transaction(|tx| {
            let backend = error::from_sqlite;
            let live: Option<i64> = tx
                .query_row(statements::LIVE_VERSION, [projection], |row| row.get(0))
                .optional()
                .map_err(backend)?;
            if live.is_some_and(|live| live >= i64::from(version)) {
                return Ok(false);
            }
            for (view, table) in views {
                tx.execute_batch(&format!(
                    "DROP VIEW IF EXISTS {view}; CREATE VIEW {view} AS SELECT * FROM {table};"
                ))
                .map_err(backend)?;
            }
            tx.execute(
                statements::SET_LIVE_VERSION,
                params![projection, version, now_micros().1],
            )
            .map_err(backend)?;
            Ok(true)
        })
        .await
    }

    async fn commit_projection(
        &self,
        checkpoint: &str,
        from: u64,
        to: u64,
        statements: Vec<SqlStatement>,
    ) -> Result<bool, StoreError> {
        self.write_transaction(|tx| {
            execute_all(tx, &statements)?;
            move_checkpoint(tx, checkpoint, from, to)
        })
        .await
    }

    async fn query(
        &self,
        sql: &str,
        params: &[SqlValue],
    ) -> Result<Vec<Vec<SqlValue>>, StoreError> {
        let sql = numbered_placeholders(sql);
        self.with_reader(|connection| {
            let backend = error::from_sqlite;
            let mut statement = connection.prepare_cached(&sql).map_err(backend)?;
            let columns = statement.column_count();
            let mut rows = statement
                .query(rusqlite::params_from_iter(params))
                .map_err(backend)?;
            let mut out = Vec::new();
            while let Some(row) = rows.next().map_err(backend)? {
                let values = (0..columns)
                    .map(|index| row.get_ref(index).map(sql_value).map_err(backend))
                    .collect::<Result<Vec<_>, _>>()?;
                out.push(values);
            }
            Ok(out)
        })
    }

    async fn reset_projection(
        &self,
        checkpoint: &str,
        statements: &[String],
    ) -> Result<(), StoreError> {
        self.write_transaction(|tx| {
            for statement in statements {
                tx.execute_batch(statement).map_err(error::from_sqlite)?;
            }
            tx.execute(
                statements::RESET_CHECKPOINT,
                params![checkpoint, now_micros().1],
            )
            .map_err(error::from_sqlite)?;
            Ok(true)
        })
        .await
        .map(drop)
    }
}
