//! Raw SQL on a store's own database, past the store: what a test uses to look at a read
//! model's tables, or to change rows by hand as an operator or another program would.

use annals::store::{PostgresOptions, PostgresStore, SqliteStore};

/// Raw SQL on the store's database; names are unqualified (on PostgreSQL, the store's
/// schema is first on the search path).
#[annals::async_trait]
pub trait RawSql {
    /// The events table, as SQL names it.
    const EVENTS: &'static str;
    /// The snapshots table.
    const SNAPSHOTS: &'static str;
    /// The projections' checkpoints table.
    const CHECKPOINTS: &'static str;

    /// Another store on the same database, as another process (or the next deployment)
    /// opens it.
    async fn reopen(&self) -> Self;

    /// Runs `sql` (one or more statements).
    async fn execute(&self, sql: &str);

    /// The first column of the first row `sql` returns, as an integer; `None` without rows.
    async fn query_i64(&self, sql: &str) -> Option<i64>;
}

#[annals::async_trait]
impl RawSql for SqliteStore {
    const EVENTS: &'static str = "annals_events";
    const SNAPSHOTS: &'static str = "annals_snapshots";
    const CHECKPOINTS: &'static str = "annals_checkpoints";

    async fn reopen(&self) -> Self {
        SqliteStore::open(self.path()).unwrap()
    }

    async fn execute(&self, sql: &str) {
        let connection = rusqlite::Connection::open(self.path()).unwrap();
        connection.execute_batch(sql).unwrap();
    }

    async fn query_i64(&self, sql: &str) -> Option<i64> {
        use rusqlite::OptionalExtension;
        let connection = rusqlite::Connection::open(self.path()).unwrap();
        connection
            .query_row(sql, [], |row| row.get(0))
            .optional()
            .unwrap()
    }
}

#[annals::async_trait]
impl RawSql for PostgresStore {
    const EVENTS: &'static str = "events";
    const SNAPSHOTS: &'static str = "snapshots";
    const CHECKPOINTS: &'static str = "checkpoints";

    async fn reopen(&self) -> Self {
        let options = PostgresOptions::new(super::database_url()).with_schema(self.schema());
        PostgresStore::connect_with(options).await.unwrap()
    }

    async fn execute(&self, sql: &str) {
        let client = super::raw_client().await.unwrap();
        client
            .batch_execute(&format!("SET search_path TO \"{}\"; {sql}", self.schema()))
            .await
            .unwrap();
    }

    async fn query_i64(&self, sql: &str) -> Option<i64> {
        let client = super::raw_client().await.unwrap();
        client
            .batch_execute(&format!("SET search_path TO \"{}\"", self.schema()))
            .await
            .unwrap();
        client
            .query_opt(sql, &[])
            .await
            .unwrap()
            .map(|row| row.get(0))
    }
}
