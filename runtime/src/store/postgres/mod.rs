//! The PostgreSQL event store, for production.
//!
//! - **One round trip per append**, whatever the number of events: a single statement reads
//!   the stream's version, checks the expectation and inserts every event from arrays
//!   (`unnest`). A racing writer that takes the same version first makes the unique index on
//!   `(stream_id, stream_version)` fail, which maps to the typed conflict.
//! - **Reading the global log never skips an event**, even when transactions commit out of
//!   position order: every event records `pg_current_xact_id()`, and `read_all` returns
//!   events in `(transaction_id, position)` order, only below
//!   `pg_snapshot_xmin(pg_current_snapshot())`, the oldest transaction still running. Every
//!   transaction below it has ended, and every later one gets a higher id, so nothing can
//!   appear behind a reader. (A transaction left open anywhere on the server holds readers
//!   back until it ends: keep transactions short.)
//! - **Migrations** are versioned, run on connect under an advisory lock (or not, for users
//!   who run [`PostgresStore::migrations`] with their own tool), in a configurable schema.
//! - Payloads and metadata are `jsonb`, sent and read in PostgreSQL's binary format without
//!   a JSON round trip in Rust.
//!
//! Works on PostgreSQL 13 and later (`xid8`, `pg_current_xact_id`).

mod codec;
mod dead_letters;
mod error;
mod event_store;
mod inbox;
mod migrations;
mod notifications;
mod options;
mod read_model;
mod sagas;
mod snapshots;
mod statements;

use std::sync::Arc;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};

pub use self::migrations::Migration;
use self::notifications::{Listener, Notifier, channel};
pub use self::options::PostgresOptions;
use self::options::validate_schema_name;
use self::statements::Sql;
use crate::store::{AppendResult, Catalog, Head, StoreError};

/// An [`EventStore`](crate::store::EventStore) (with snapshots, checkpoints and SQL read
/// models) on PostgreSQL, over a connection pool.
///
/// The handle is cheap to clone; clones share the pool.
///
/// ```no_run
/// use annals::store::{PostgresOptions, PostgresStore};
///
/// # async fn connect() -> Result<(), annals::store::StoreError> {
/// let store = PostgresStore::connect_with(
///     PostgresOptions::new("postgres://postgres@127.0.0.1:5432/postgres").with_schema("bank"),
/// )
/// .await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PostgresStore {
    /// The connections this handle uses: the command path's, or, for the handle
    /// [`for_workers`](crate::store::EventStore::for_workers) hands out, the workers'.
    pool: Pool,
    /// The background workers' connections.
    workers: Pool,
    sql: Arc<Sql>,
    schema: Arc<str>,
    /// The highest position appended, by this process or (through `LISTEN`) another:
    /// wakes live readers.
    head: Arc<Head>,
    listener: Arc<Listener>,
    notifier: Arc<Notifier>,
    catalog: Catalog,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to `url` with the default options (schema `annals`, migrations on).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(PostgresOptions::new(url)).await
    }

    /// Connects with `options`, and runs the migrations unless told not to.
    pub async fn connect_with(options: PostgresOptions) -> Result<Self, StoreError> {
        validate_schema_name(&options.schema)?;
        let mut config: tokio_postgres::Config = options.url.parse().map_err(error::backend)?;
        let listen_config = config.clone();
        // The store's schema comes first on the search path of its connections, so the
        // tables of SQL read models (unqualified names) live beside the events.
        config.options(format!("-c search_path={},public", options.schema));
        let pool = |config: tokio_postgres::Config, size: usize| {
            let manager = Manager::from_config(
                config,
                NoTls,
                ManagerConfig {
                    recycling_method: RecyclingMethod::Fast,
                },
            );
            Pool::builder(manager)
                .max_size(size)
                .build()
                .map_err(StoreError::backend)
        };
        let store = PostgresStore {
            pool: pool(config.clone(), options.pool_size)?,
            workers: pool(config, options.worker_pool_size)?,
            sql: Arc::new(Sql::new(&options.schema)),
            head: Arc::new(Head::new(0)),
            listener: Arc::new(Listener::new(
                listen_config,
                channel(&options.schema),
                options.notify,
            )),
            notifier: Arc::new(Notifier::new(channel(&options.schema), options.notify)),
            catalog: Catalog::default(),
            schema: options.schema.into(),
        };
        if options.migrate {
            store.migrate().await?;
        } else {
            // Fail now, not on the first append, if the server is unreachable.
            drop(store.client().await?);
        }
        Ok(store)
    }

    /// The schema holding the store's tables.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// A connection from the pool.
    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(error::from_pool)
    }

    /// Runs one (cached, prepared) statement and returns its rows.
    async fn rows(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, StoreError> {
        let client = self.client().await?;
        let result = match client.prepare_cached(sql).await {
            Ok(statement) => client.query(&statement, params).await,
            Err(error) => Err(error),
        };
        result.map_err(|error| error::failed(client, error))
    }

    /// The single `i64` a statement returns (0 when it returns no row).
    async fn scalar(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<i64, StoreError> {
        let rows = self.rows(sql, params).await?;
        match rows.first() {
            Some(row) => row.try_get(0).map_err(error::backend),
            None => Ok(0),
        }
    }

    /// Wakes live readers after an append: at once in this process, through `NOTIFY` in
    /// others.
    fn announce(&self, result: &AppendResult) {
        let last = result.last_position();
        self.notifier.announce(last, &self.pool);
        self.head.advance(last);
    }
}
