//! SQL read models: tables in the event store's own database, changed in the same
//! transaction as their checkpoint, so each event is applied exactly once.
//!
//! The statements come from a projection's handlers (see
//! `annals::projection::SqlProjection`); this is what a database must offer
//! to run them.

use async_trait::async_trait;

use super::{CheckpointStore, StoreError};

/// A value bound to a statement parameter.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SqlValue {
    /// NULL.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer (bound to the parameter's integer width, checked).
    Int(i64),
    /// A floating-point number.
    Real(f64),
    /// Text.
    Text(String),
    /// Bytes.
    Bytes(Vec<u8>),
}

macro_rules! sql_value_from {
    ($($ty:ty => $variant:ident $(as $cast:ty)?),* $(,)?) => {
        $(impl From<$ty> for SqlValue {
            fn from(value: $ty) -> Self {
                SqlValue::$variant(value $(as $cast)?)
            }
        })*
    };
}

sql_value_from!(
    bool => Bool,
    i64 => Int,
    i32 => Int as i64,
    i16 => Int as i64,
    u32 => Int as i64,
    u16 => Int as i64,
    f64 => Real,
    f32 => Real as f64,
    String => Text,
    Vec<u8> => Bytes,
);

impl From<&str> for SqlValue {
    fn from(value: &str) -> Self {
        SqlValue::Text(value.to_owned())
    }
}

impl From<&String> for SqlValue {
    fn from(value: &String) -> Self {
        SqlValue::Text(value.clone())
    }
}

impl From<uuid::Uuid> for SqlValue {
    /// As text, the portable form.
    fn from(value: uuid::Uuid) -> Self {
        SqlValue::Text(value.to_string())
    }
}

impl<T: Into<SqlValue>> From<Option<T>> for SqlValue {
    fn from(value: Option<T>) -> Self {
        value.map_or(SqlValue::Null, Into::into)
    }
}

/// One statement with its parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlStatement {
    /// The SQL, with `$1`, `$2`, ... placeholders; shared, since a read model repeats a few
    /// texts for many events.
    pub sql: std::sync::Arc<str>,
    /// The values of the placeholders, in order.
    pub params: Vec<SqlValue>,
}

/// A database that holds SQL read models beside the events, and commits their changes
/// with their checkpoints (read through [`CheckpointStore`]) in one transaction.
#[async_trait]
pub trait SqlTarget: CheckpointStore {
    /// Runs `statements` (table creation) in one transaction.
    async fn prepare_read_model(&self, statements: &[String]) -> Result<(), StoreError>;

    /// In one transaction: runs `statements` in order and moves the checkpoint `checkpoint`
    /// from `from` to `to`. Returns `false`, and changes nothing, when the stored checkpoint
    /// is not at `from` (another runner of the same projection got there first).
    async fn commit_projection(
        &self,
        checkpoint: &str,
        from: u64,
        to: u64,
        statements: Vec<SqlStatement>,
    ) -> Result<bool, StoreError>;

    /// In one transaction: unless a version of `projection` (its name, without version) at
    /// or above `version` is live already, (re)creates each view `(name, table)` as
    /// `SELECT * FROM table` and records `version` as live. Returns whether it switched.
    async fn publish_version(
        &self,
        projection: &str,
        version: u32,
        views: &[(String, String)],
    ) -> Result<bool, StoreError>;

    /// Runs a query on the read models' database (`$1`, `$2`, ... placeholders, as in
    /// statements) and returns its rows: how a reader queries a SQL read model without a
    /// driver of its own. Integers, floats, text, bytes and NULL come back as they are;
    /// booleans come back as [`SqlValue::Bool`] on PostgreSQL and as [`SqlValue::Int`] (0
    /// or 1) on SQLite, which has no boolean type; UUIDs and JSON come back as text.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use annals::store::{SqlTarget, SqlValue, SqliteStore};
    ///
    /// # let dir = std::env::temp_dir().join(format!("annals-doc-query-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// let store = SqliteStore::open(dir.join("bank.sqlite"))?;
    /// store.prepare_read_model(&["CREATE TABLE IF NOT EXISTS totals (account TEXT, total BIGINT)".into()]).await?;
    /// let rows = store
    ///     .query("SELECT total FROM totals WHERE account = $1", &["a".into()])
    ///     .await?;
    /// assert!(rows.is_empty());
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok(()) }
    /// ```
    async fn query(&self, sql: &str, params: &[SqlValue])
    -> Result<Vec<Vec<SqlValue>>, StoreError>;

    /// In one transaction: runs `statements` (emptying the read model) and sets the
    /// checkpoint `checkpoint` to 0.
    async fn reset_projection(
        &self,
        checkpoint: &str,
        statements: &[String],
    ) -> Result<(), StoreError>;
}
