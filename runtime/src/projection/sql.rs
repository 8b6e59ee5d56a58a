//! Read models in SQL tables of the event store's own database, updated exactly once.
//!
//! A SQL read model is a [`Projection`] whose handlers write statements into a
//! [`SqlWriter`] instead of changing memory. The runner executes each batch's statements
//! and moves the projection's checkpoint in one transaction of the store's database
//! ([`SqlTarget`]: SQLite and PostgreSQL), so a crash between handling and checkpointing
//! leaves neither, and no event is applied twice. The same read model runs on both stores:
//! statements use `$1`, `$2`, ... placeholders, rewritten for SQLite.
//!
//! Handlers only write: a read-modify-write is one statement
//! (`INSERT ... ON CONFLICT ... DO UPDATE SET total = total + $2`). A SQL read model keeps
//! no state of its own in memory: after a failed commit the runner projects the same events
//! again into an empty writer.
//!
//! Versions: name the tables after the version ([`SqlProjection::table`]), and bumping
//! `version = N` builds the new tables beside the old ones from the start of the log, under
//! a new checkpoint, while the old version keeps serving. Readers query the tables through
//! views named after their base names ([`SqlProjection::views`]): when version N has caught
//! up, the runner points the views at its tables in one transaction, and no older version
//! takes them back. Drop the old tables once no old runner is left.

use super::Projection;
#[cfg(doc)]
use crate::store::SqlTarget;
use crate::store::{SqlStatement, SqlValue};

/// Collects the statements of the events being projected; the runner executes them with
/// the checkpoint, in one transaction.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SqlWriter {
    statements: Vec<SqlStatement>,
}

impl SqlWriter {
    /// Adds a statement with `$1`, `$2`, ... placeholders.
    ///
    /// The text may be a `&str` or a `String` (copied into a shared string) or an
    /// `Arc<str>`: a read model that keeps its statements' texts as `Arc<str>` (built once,
    /// with its versioned table names) adds each without copying it.
    ///
    /// ```
    /// use annals::projection::SqlWriter;
    ///
    /// let mut sql = SqlWriter::default();
    /// sql.execute(
    ///     "INSERT INTO balances (account, total) VALUES ($1, $2)
    ///      ON CONFLICT (account) DO UPDATE SET total = balances.total + $2",
    ///     ["account-1".into(), 5.into()],
    /// );
    /// assert_eq!(sql.len(), 1);
    /// ```
    pub fn execute<I>(&mut self, sql: impl Into<std::sync::Arc<str>>, params: I)
    where
        I: IntoIterator<Item = SqlValue>,
    {
        self.statements.push(SqlStatement {
            sql: sql.into(),
            params: params.into_iter().collect(),
        });
    }

    /// How many statements are waiting.
    pub fn len(&self) -> usize {
        self.statements.len()
    }

    /// Whether no statement is waiting.
    pub fn is_empty(&self) -> bool {
        self.statements.is_empty()
    }

    /// Drops the statements after the first `len`.
    pub(crate) fn truncate(&mut self, len: usize) {
        self.statements.truncate(len);
    }

    /// Takes the waiting statements.
    pub fn take(&mut self) -> Vec<SqlStatement> {
        std::mem::take(&mut self.statements)
    }
}

/// A projection whose read model lives in SQL tables of the event store's database.
pub trait SqlProjection: Projection {
    /// Statements that create the read model's tables; idempotent (`CREATE TABLE IF NOT
    /// EXISTS ...`), run when the projection starts.
    fn setup() -> Vec<String>;

    /// Statements that empty the read model, for a rebuild from zero.
    fn reset() -> Vec<String>;

    /// Where the handlers put their statements.
    fn writer(&mut self) -> &mut SqlWriter;

    /// `"{base}_v{VERSION}"`: a table name that changes with the projection's version, so
    /// a new version builds beside the old one.
    fn table(base: &str) -> String {
        format!("{base}_v{}", Self::VERSION)
    }

    /// The base names of the tables readers query by a stable name: for each, a view
    /// `base` over [`table(base)`](Self::table). The runner points the views at this
    /// version's tables once it has caught up, unless a newer version already has them, so
    /// a version bump switches readers over without a gap. None by default.
    ///
    /// ```
    /// # use annals::{Event, Project, Projection, Recorded};
    /// # use annals::projection::{SqlProjection, SqlWriter};
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
    /// # struct Deposited { amount: i64 }
    /// # #[derive(Event, Clone, Debug, PartialEq)]
    /// # enum AccountEvent { Deposited(Deposited) }
    /// # #[derive(Projection, Default)]
    /// # #[projection(name = "balances", version = 2, events(AccountEvent))]
    /// # struct Balances { sql: SqlWriter }
    /// # impl Project<Deposited> for Balances {
    /// #     fn project(&mut self, _: Recorded<'_, Deposited>) {}
    /// # }
    /// impl SqlProjection for Balances {
    ///     fn setup() -> Vec<String> {
    ///         vec![format!(
    ///             "CREATE TABLE IF NOT EXISTS {} (account TEXT PRIMARY KEY, total BIGINT)",
    ///             Self::table("balances")
    ///         )]
    ///     }
    ///     fn reset() -> Vec<String> {
    ///         vec![format!("DELETE FROM {}", Self::table("balances"))]
    ///     }
    ///     fn writer(&mut self) -> &mut SqlWriter {
    ///         &mut self.sql
    ///     }
    ///     /// Readers query `balances`; it shows `balances_v2` once version 2 has caught up.
    ///     fn views() -> Vec<&'static str> {
    ///         vec!["balances"]
    ///     }
    /// }
    /// ```
    fn views() -> Vec<&'static str> {
        Vec::new()
    }
}
