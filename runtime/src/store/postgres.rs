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

use std::error::Error as StdError;
use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::{BufMut, BytesMut};
use chrono::{DateTime, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use futures_util::StreamExt;
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{NoTls, Row};
use uuid::Uuid;

use crate::projection::sql::{SqlStatement, SqlTarget, SqlValue};

use super::{
    AppendResult, EventFilter, EventRef, EventStore, ExpectedVersion, LogVisitor, Metadata,
    NewEvent, RecordedEvent, Snapshot, SnapshotStore, StoreError, StreamVisitor,
};

/// The schema annals uses unless told otherwise.
pub const DEFAULT_SCHEMA: &str = "annals";

/// One versioned migration: a name and the SQL that applies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    /// Unique, sortable name (`0001_events_and_snapshots`).
    pub name: &'static str,
    /// The SQL, with the schema name filled in.
    pub sql: String,
}

/// The migrations of the store, in order; `{schema}` is replaced by the quoted schema name.
/// Append only: never edit a released migration.
const MIGRATIONS: &[(&str, &str)] = &[
    (
        "0001_events_and_snapshots",
        r#"
    CREATE TABLE {schema}.events (
        position        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        transaction_id  xid8        NOT NULL DEFAULT pg_current_xact_id(),
        stream_id       text        NOT NULL,
        stream_version  bigint      NOT NULL,
        event_id        uuid        NOT NULL,
        event_type      text        NOT NULL,
        schema_version  integer     NOT NULL,
        payload         jsonb       NOT NULL,
        metadata        jsonb,
        recorded_at     timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT events_stream_version_unique UNIQUE (stream_id, stream_version)
    );
    CREATE INDEX events_visible_order ON {schema}.events (transaction_id, position);
    CREATE TABLE {schema}.snapshots (
        stream_id       text        PRIMARY KEY,
        stream_version  bigint      NOT NULL,
        schema_version  integer     NOT NULL,
        payload         bytea       NOT NULL,
        taken_at        timestamptz NOT NULL
    );
    "#,
    ),
    (
        "0002_projection_checkpoints",
        r#"
    CREATE TABLE {schema}.checkpoints (
        projection  text        PRIMARY KEY,
        position    bigint      NOT NULL,
        updated_at  timestamptz NOT NULL DEFAULT now()
    );
    "#,
    ),
    (
        "0003_metadata_ids_as_columns",
        r#"
    ALTER TABLE {schema}.events ADD COLUMN correlation_id uuid, ADD COLUMN causation_id uuid;
    "#,
    ),
    (
        "0004_live_projection_versions",
        r#"
    CREATE TABLE {schema}.projection_versions (
        projection  text        PRIMARY KEY,
        version     integer     NOT NULL,
        switched_at timestamptz NOT NULL DEFAULT now()
    );
    "#,
    ),
];

/// Connection options for [`PostgresStore`].
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    url: String,
    schema: String,
    pool_size: usize,
    migrate: bool,
    notify: bool,
}

impl PostgresOptions {
    /// Options for the server at `url` (`postgres://user@host:port/database`), schema
    /// `annals`, a pool of 16 connections, migrations run on connect.
    pub fn new(url: impl Into<String>) -> Self {
        PostgresOptions {
            url: url.into(),
            schema: DEFAULT_SCHEMA.to_owned(),
            pool_size: 16,
            migrate: true,
            notify: true,
        }
    }

    /// The schema holding the store's tables: lowercase letters, digits and `_`, starting
    /// with a letter or `_`, at most 63 characters.
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self
    }

    /// The largest number of connections the store opens.
    pub fn pool_size(mut self, connections: usize) -> Self {
        self.pool_size = connections.max(1);
        self
    }

    /// Do not run migrations on connect (run [`PostgresStore::migrations`] yourself).
    pub fn skip_migrations(mut self) -> Self {
        self.migrate = false;
        self
    }

    /// Do not `NOTIFY` live readers of other processes after appends (they then poll).
    /// On by default: after appends, a background task of the store sends one coalesced
    /// notification (at most every few milliseconds, outside the appending transactions, so
    /// writers never queue on PostgreSQL's notification lock).
    pub fn without_notifications(mut self) -> Self {
        self.notify = false;
        self
    }
}

/// The `LISTEN`/`NOTIFY` channel of a schema's appends (an identifier, at most 63 bytes).
fn channel(schema: &str) -> String {
    let mut channel = format!("annals.{schema}");
    channel.truncate(63);
    channel
}

/// Checks a schema name, so it can be quoted into SQL safely.
pub fn validate_schema_name(schema: &str) -> Result<(), StoreError> {
    let invalid = |reason| {
        Err(StoreError::InvalidSchemaName {
            schema: schema.to_owned(),
            reason,
        })
    };
    let mut chars = schema.chars();
    match chars.next() {
        None => return invalid("it is empty"),
        Some(c) if !(c.is_ascii_lowercase() || c == '_') => {
            return invalid("it must start with a lowercase letter or `_`");
        }
        _ => {}
    }
    if schema.len() > 63 {
        return invalid("it is longer than 63 bytes");
    }
    if !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
        return invalid("only lowercase letters, digits and `_` are allowed");
    }
    if schema.starts_with("pg_") {
        return invalid("names starting with `pg_` are reserved by PostgreSQL");
    }
    Ok(())
}

/// The statements, with the schema filled in once.
struct Sql {
    append: String,
    append_one_at: String,
    stream_version: String,
    read_stream: String,
    visit_stream: String,
    read_all: String,
    read_all_filtered: String,
    count_after: String,
    count_after_filtered: String,
    head_position: String,
    load_snapshot: String,
    save_snapshot: String,
}

const EVENT_COLUMNS: &str = "position, stream_id, stream_version, event_id, event_type, schema_version, payload, metadata, recorded_at, correlation_id, causation_id";

impl Sql {
    fn new(schema: &str) -> Sql {
        let s = format!("\"{schema}\"");
        // The events after position $1 in the readers' order, as far as they are visible.
        let visible_after = |columns: &str| {
            format!(
                "WITH after AS (
                    SELECT transaction_id FROM {s}.events WHERE position <= $1 ORDER BY position DESC LIMIT 1
                 )
                 SELECT {columns} FROM {s}.events
                 WHERE (transaction_id, position) > (COALESCE((SELECT transaction_id FROM after), '0'::xid8), $1)
                   AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())"
            )
        };
        Sql {
            append: format!(
                "WITH current AS (
                    SELECT COALESCE(MAX(stream_version), 0) AS version FROM {s}.events WHERE stream_id = $1
                 ), inserted AS (
                    INSERT INTO {s}.events (stream_id, stream_version, event_id, event_type, schema_version, payload, metadata, correlation_id, causation_id)
                    SELECT $1, current.version + e.ord, e.event_id, e.event_type, e.schema_version, e.payload, e.metadata, e.correlation_id, e.causation_id
                    FROM current,
                         unnest($2::uuid[], $3::text[], $4::int4[], $5::jsonb[], $6::jsonb[], $9::uuid[], $10::uuid[])
                             WITH ORDINALITY AS e(event_id, event_type, schema_version, payload, metadata, correlation_id, causation_id, ord)
                    WHERE CASE $7::int4
                            WHEN 0 THEN true
                            WHEN 1 THEN current.version = 0
                            WHEN 2 THEN current.version > 0
                            ELSE current.version = $8::int8
                          END
                    ORDER BY e.ord
                    RETURNING position, stream_version, recorded_at
                 )
                 SELECT current.version, inserted.position, inserted.stream_version, inserted.recorded_at
                 FROM current LEFT JOIN inserted ON true
                 ORDER BY inserted.position"
            ),
            append_one_at: format!(
                "INSERT INTO {s}.events (stream_id, stream_version, event_id, event_type, schema_version, payload, metadata, correlation_id, causation_id)
                 SELECT $1::text, $2::int8 + 1, $3::uuid, $4::text, $5::int4, $6::jsonb, $7::jsonb, $8::uuid, $9::uuid
                 WHERE $2::int8 = 0
                    OR EXISTS (SELECT 1 FROM {s}.events WHERE stream_id = $1::text AND stream_version = $2::int8)
                 RETURNING position, recorded_at"
            ),
            stream_version: format!("SELECT COALESCE(MAX(stream_version), 0) FROM {s}.events WHERE stream_id = $1"),
            read_stream: format!(
                "SELECT {EVENT_COLUMNS} FROM {s}.events
                 WHERE stream_id = $1 AND stream_version >= $2 ORDER BY stream_version LIMIT $3"
            ),
            visit_stream: format!(
                "SELECT stream_version, event_type, schema_version, payload FROM {s}.events
                 WHERE stream_id = $1 AND stream_version >= $2 ORDER BY stream_version LIMIT $3"
            ),
            read_all: format!(
                "{} ORDER BY transaction_id, position LIMIT $2",
                visible_after(EVENT_COLUMNS)
            ),
            read_all_filtered: format!(
                "{} AND event_type = ANY($3::text[]) ORDER BY transaction_id, position LIMIT $2",
                visible_after(EVENT_COLUMNS)
            ),
            count_after: visible_after("count(*)"),
            count_after_filtered: format!(
                "{} AND event_type = ANY($2::text[])",
                visible_after("count(*)")
            ),
            head_position: format!("SELECT COALESCE(MAX(position), 0) FROM {s}.events"),
            load_snapshot: format!(
                "SELECT stream_version, schema_version, payload, taken_at FROM {s}.snapshots WHERE stream_id = $1"
            ),
            save_snapshot: format!(
                "INSERT INTO {s}.snapshots (stream_id, stream_version, schema_version, payload, taken_at)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (stream_id) DO UPDATE SET
                    stream_version = excluded.stream_version,
                    schema_version = excluded.schema_version,
                    payload = excluded.payload,
                    taken_at = excluded.taken_at
                 WHERE excluded.stream_version >= {s}.snapshots.stream_version"
            ),
        }
    }
}

/// An [`EventStore`] and [`SnapshotStore`] on PostgreSQL, over a connection pool.
///
/// The handle is cheap to clone; clones share the pool.
///
/// ```no_run
/// use annals::store::postgres::{PostgresOptions, PostgresStore};
///
/// # async fn connect() -> Result<(), annals::StoreError> {
/// let store = PostgresStore::connect_with(
///     PostgresOptions::new("postgres://postgres@127.0.0.1:5432/postgres").schema("bank"),
/// )
/// .await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    sql: Arc<Sql>,
    schema: Arc<str>,
    /// The highest position appended, by this process or (through `LISTEN`) another:
    /// wakes live readers.
    appended: Arc<tokio::sync::watch::Sender<u64>>,
    listener: Arc<Listener>,
    notifier: Arc<Notifier>,
}

/// The `NOTIFY` side of notifications: appends record the highest position to announce,
/// and one background task announces it, coalescing bursts of appends into one
/// notification.
struct Notifier {
    enabled: bool,
    channel: String,
    pending: std::sync::atomic::AtomicU64,
    wake: tokio::sync::Notify,
    started: std::sync::Once,
}

impl Notifier {
    fn announce(self: &Arc<Self>, position: u64, pool: &Pool) {
        if !self.enabled {
            return;
        }
        self.pending
            .fetch_max(position, std::sync::atomic::Ordering::SeqCst);
        self.started.call_once(|| {
            let (notifier, pool) = (Arc::downgrade(self), pool.clone());
            tokio::spawn(notify_loop(notifier, pool));
        });
        self.wake.notify_one();
    }
}

/// Sends the pending position on the channel after each burst of appends; ends when the
/// store is gone.
async fn notify_loop(notifier: std::sync::Weak<Notifier>, pool: Pool) {
    // At most one notification per 10 ms: cheap for the server, and a wake-up within 10 ms
    // (readers otherwise poll).
    const COALESCE: std::time::Duration = std::time::Duration::from_millis(10);
    loop {
        let Some(strong) = notifier.upgrade() else {
            return;
        };
        let woken =
            tokio::time::timeout(std::time::Duration::from_secs(1), strong.wake.notified()).await;
        if woken.is_err() {
            continue; // quiet: check the store still exists
        }
        tokio::time::sleep(COALESCE).await;
        let position = strong.pending.swap(0, std::sync::atomic::Ordering::SeqCst);
        if position == 0 {
            continue;
        }
        let sent = match pool.get().await {
            Ok(client) => client
                // A wake-up need not be durable: no wait for the WAL to reach the disk.
                .execute(
                    "SELECT set_config('synchronous_commit', 'off', true), pg_notify($1, $2)",
                    &[&strong.channel, &position.to_string()],
                )
                .await
                .map(drop)
                .map_err(|error| error.to_string()),
            Err(error) => Err(error.to_string()),
        };
        if let Err(error) = sent {
            tracing::warn!(%error, "NOTIFY failed; readers in other processes poll");
        }
    }
}

/// The `LISTEN` side of notifications: a connection of its own, started by the first live
/// reader, feeding the store's wake-ups until the store is dropped.
struct Listener {
    config: tokio_postgres::Config,
    channel: String,
    started: std::sync::Once,
    enabled: bool,
}

impl Listener {
    fn start(&self, appended: &Arc<tokio::sync::watch::Sender<u64>>) {
        if !self.enabled {
            return;
        }
        self.started.call_once(|| {
            let (config, channel) = (self.config.clone(), self.channel.clone());
            let appended = Arc::downgrade(appended);
            tokio::spawn(async move {
                // Reconnects after a failure; ends when the store is gone.
                while appended.strong_count() > 0 {
                    if let Err(error) = listen(&config, &channel, &appended).await {
                        tracing::warn!(%error, "LISTEN connection failed; readers poll until it is back");
                    }
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
            });
        });
    }
}

/// Listens on `channel` and raises the head with each notification's position.
async fn listen(
    config: &tokio_postgres::Config,
    channel: &str,
    appended: &std::sync::Weak<tokio::sync::watch::Sender<u64>>,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = config.connect(NoTls).await?;
    let statement = format!("LISTEN \"{channel}\"");
    let mut listen = std::pin::pin!(client.batch_execute(&statement));
    let mut listening = false;
    loop {
        let message = std::future::poll_fn(|cx| {
            // Drive the LISTEN request (until it completes) and the connection together.
            if !listening {
                match listen.as_mut().poll(cx) {
                    std::task::Poll::Ready(Ok(())) => listening = true,
                    std::task::Poll::Ready(Err(error)) => {
                        return std::task::Poll::Ready(Some(Err(error)));
                    }
                    std::task::Poll::Pending => {}
                }
            }
            connection.poll_message(cx)
        });
        let message = tokio::time::timeout(std::time::Duration::from_secs(5), message).await;
        let Some(appended) = appended.upgrade() else {
            return Ok(());
        };
        match message {
            Err(_) => continue, // a quiet period: check the store is still there
            Ok(None) => return Ok(()),
            Ok(Some(Err(error))) => return Err(error),
            Ok(Some(Ok(tokio_postgres::AsyncMessage::Notification(notification)))) => {
                let position = notification.payload().parse::<u64>().unwrap_or(0);
                appended.send_if_modified(|head| {
                    let advanced = position > *head || position == 0;
                    *head = (*head).max(position);
                    advanced
                });
            }
            Ok(Some(Ok(_))) => {}
        }
    }
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

fn backend(error: impl StdError + Send + Sync + 'static) -> StoreError {
    StoreError::Backend(Box::new(error))
}

/// PostgreSQL stores integers as i64: positions, versions and counts above it are clamped.
fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl PostgresStore {
    /// Connects to `url` with the default options (schema `annals`, migrations on).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(PostgresOptions::new(url)).await
    }

    /// Connects with `options`, and runs the migrations unless told not to.
    pub async fn connect_with(options: PostgresOptions) -> Result<Self, StoreError> {
        validate_schema_name(&options.schema)?;
        let mut config: tokio_postgres::Config = options.url.parse().map_err(backend)?;
        let listen_config = config.clone();
        // The store's schema comes first on the search path of its connections, so the
        // tables of SQL read models (unqualified names) live beside the events.
        config.options(format!("-c search_path={},public", options.schema));
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.pool_size)
            .build()
            .map_err(backend)?;
        let (appended, _) = tokio::sync::watch::channel(0);
        let store = PostgresStore {
            appended: Arc::new(appended),
            pool,
            sql: Arc::new(Sql::new(&options.schema)),
            listener: Arc::new(Listener {
                config: listen_config,
                channel: channel(&options.schema),
                started: std::sync::Once::new(),
                enabled: options.notify,
            }),
            notifier: Arc::new(Notifier {
                enabled: options.notify,
                channel: channel(&options.schema),
                pending: std::sync::atomic::AtomicU64::new(0),
                wake: tokio::sync::Notify::new(),
                started: std::sync::Once::new(),
            }),
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

    /// The migrations for `schema`, in order, for users who apply them with their own tool.
    /// Each must run once; [`PostgresStore::migrate`] records the applied ones in
    /// `{schema}.migrations`.
    pub fn migrations(schema: &str) -> Result<Vec<Migration>, StoreError> {
        validate_schema_name(schema)?;
        Ok(MIGRATIONS
            .iter()
            .map(|(name, sql)| Migration {
                name,
                sql: sql.replace("{schema}", &format!("\"{schema}\"")),
            })
            .collect())
    }

    /// Applies the migrations not yet applied, under an advisory lock so concurrent starts
    /// do not race.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        let s = format!("\"{}\"", self.schema);
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtext('annals.migrate:' || $1::text))",
            &[&&*self.schema],
        )
        .await
        .map_err(backend)?;
        tx.batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {s};
             CREATE TABLE IF NOT EXISTS {s}.migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now());"
        ))
        .await
        .map_err(backend)?;
        let applied: Vec<String> = tx
            .query(&format!("SELECT name FROM {s}.migrations"), &[])
            .await
            .map_err(backend)?
            .iter()
            .map(|row| row.get(0))
            .collect();
        for migration in Self::migrations(&self.schema)? {
            if applied.iter().any(|name| name == migration.name) {
                continue;
            }
            tx.batch_execute(&migration.sql).await.map_err(backend)?;
            tx.execute(
                &format!("INSERT INTO {s}.migrations (name) VALUES ($1)"),
                &[&migration.name],
            )
            .await
            .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(backend)
    }

    /// The command path's append (one event at a known version) as a plain guarded
    /// INSERT, lighter for the server than the general statement: the event goes in at
    /// `version + 1` only if the stream is at `version`. A stream behind it inserts nothing
    /// (the guard); one ahead of it trips the unique index.
    async fn append_one_at(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        version: u64,
        event: &NewEvent,
    ) -> Result<AppendResult, StoreError> {
        let metadata = encode_metadata(&event.metadata)?;
        let client = self.client().await?;
        let result = match client.prepare_cached(&self.sql.append_one_at).await {
            Ok(statement) => {
                client
                    .query(
                        &statement,
                        &[
                            &stream_id,
                            &to_i64(version),
                            &event.event_id,
                            &event.event_type,
                            &(event.schema_version as i32),
                            &Jsonb(&event.payload),
                            &metadata.as_deref().map(Jsonb),
                            &event.metadata.correlation_id,
                            &event.metadata.causation_id,
                        ],
                    )
                    .await
            }
            Err(error) => Err(error),
        };
        let rows = match result {
            Ok(rows) => rows,
            Err(error) if is_version_race(&error) => Vec::new(),
            Err(error) => return Err(failed(client, error)),
        };
        drop(client);
        let Some(row) = rows.first() else {
            let actual = self.stream_version(stream_id).await?;
            return Err(StoreError::WrongExpectedVersion {
                stream_id: stream_id.to_owned(),
                expected,
                actual,
            });
        };
        Ok(AppendResult {
            stream_version: version + 1,
            positions: vec![row.try_get::<_, i64>(0).map_err(backend)? as u64],
            recorded_at: row.try_get(1).map_err(backend)?,
        })
    }

    /// Wakes live readers after an append: at once in this process, through `NOTIFY` in
    /// others.
    fn announce(&self, result: &AppendResult) {
        let last = result.last_position();
        self.notifier.announce(last, &self.pool);
        self.appended.send_if_modified(|head| {
            let advanced = last > *head;
            if advanced {
                *head = last;
            }
            advanced
        });
    }

    async fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, StoreError> {
        let client = self.client().await?;
        let result = match client.prepare_cached(sql).await {
            Ok(statement) => client.query(&statement, params).await,
            Err(error) => Err(error),
        };
        result.map_err(|error| failed(client, error))
    }
}

/// Whether `error` means the connection is gone (closed, terminated by an administrator,
/// a crash or shutdown of the server, a broken socket), so it must not go back to the pool.
fn connection_lost(client: &deadpool_postgres::Object, error: &tokio_postgres::Error) -> bool {
    client.is_closed()
        || error.is_closed()
        || match error.code() {
            Some(state) => state.code().starts_with("57P") || state.code().starts_with("08"),
            // No SQLSTATE: an I/O or protocol failure, not an answer from the server.
            None => true,
        }
}

/// Maps a failed query's error, dropping the connection instead of pooling it again if the
/// error says it is gone, so the next call gets a working one.
fn failed(client: deadpool_postgres::Object, error: tokio_postgres::Error) -> StoreError {
    if connection_lost(&client, &error) {
        drop(deadpool_postgres::Object::take(client));
    }
    StoreError::Backend(Box::new(PostgresError(error)))
}

/// A driver error whose message includes the server's (tokio-postgres prints only "db
/// error" for errors the server reports).
#[derive(Debug)]
struct PostgresError(tokio_postgres::Error);

impl std::fmt::Display for PostgresError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.as_db_error() {
            Some(db) => write!(
                f,
                "{}: {} ({})",
                db.severity(),
                db.message(),
                db.code().code()
            ),
            None => self.0.fmt(f),
        }
    }
}

impl StdError for PostgresError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&self.0)
    }
}

/// `jsonb` in PostgreSQL's binary format: a version byte (1) and the JSON text. Sending the
/// payload's bytes as they are avoids parsing them in Rust.
#[derive(Debug)]
struct Jsonb<'a>(&'a [u8]);

impl ToSql for Jsonb<'_> {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        out.reserve(1 + self.0.len());
        out.put_u8(1);
        out.put_slice(self.0);
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSONB
    }

    to_sql_checked!();
}

/// A `jsonb` value read in binary format: the JSON text, borrowed from the row.
struct JsonbRef<'a>(&'a [u8]);

impl<'a> FromSql<'a> for JsonbRef<'a> {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn StdError + Sync + Send>> {
        match raw.split_first() {
            Some((1, json)) => Ok(JsonbRef(json)),
            _ => Err("unsupported jsonb binary format version".into()),
        }
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSONB
    }
}

/// A `timestamptz` read straight from its binary form (microseconds since 2000-01-01 UTC):
/// the same instant as the driver's `DateTime<Utc>`, without its calendar arithmetic, which
/// showed up as a twelfth of a log read's client time.
struct Timestamp(DateTime<Utc>);

/// 2000-01-01T00:00:00Z, PostgreSQL's epoch, in microseconds since the Unix epoch.
const POSTGRES_EPOCH_MICROS: i64 = 946_684_800_000_000;

impl<'a> FromSql<'a> for Timestamp {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn StdError + Sync + Send>> {
        let micros = i64::from_be_bytes(raw.try_into()?);
        micros
            .checked_add(POSTGRES_EPOCH_MICROS)
            .and_then(DateTime::from_timestamp_micros)
            .map(Timestamp)
            .ok_or_else(|| "timestamptz out of range".into())
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::TIMESTAMPTZ
    }
}

/// The metadata's jsonb: only when it has user key/values (correlation and causation ids
/// have columns of their own: 16 binary bytes each, no JSON to render and parse per row).
fn encode_metadata(metadata: &Metadata) -> Result<Option<Vec<u8>>, StoreError> {
    if metadata.extra.is_empty() {
        return Ok(None);
    }
    serde_json::to_vec(metadata).map(Some).map_err(backend)
}

fn read_event(row: &Row) -> Result<RecordedEvent, StoreError> {
    let mut event = RecordedEvent::blank();
    fill_event(row, &mut event)?;
    Ok(event)
}

/// Overwrites `event` with the row (a row of `EVENT_COLUMNS`), reusing its buffers: a
/// reader of the log fills one record per row instead of allocating one.
fn fill_event(row: &Row, event: &mut RecordedEvent) -> Result<(), StoreError> {
    event.metadata = match row.try_get::<_, Option<JsonbRef<'_>>>(7).map_err(backend)? {
        None => Metadata::default(),
        Some(JsonbRef(json)) => serde_json::from_slice(json).map_err(backend)?,
    };
    // Events written before migration 0003 keep their ids in the jsonb only.
    if let Some(id) = row.try_get::<_, Option<Uuid>>(9).map_err(backend)? {
        event.metadata.correlation_id = Some(id);
    }
    if let Some(id) = row.try_get::<_, Option<Uuid>>(10).map_err(backend)? {
        event.metadata.causation_id = Some(id);
    }
    event.position = row.try_get::<_, i64>(0).map_err(backend)? as u64;
    event.stream_id.clear();
    event
        .stream_id
        .push_str(row.try_get::<_, &str>(1).map_err(backend)?);
    event.stream_version = row.try_get::<_, i64>(2).map_err(backend)? as u64;
    event.event_id = row.try_get(3).map_err(backend)?;
    event.event_type.clear();
    event
        .event_type
        .push_str(row.try_get::<_, &str>(4).map_err(backend)?);
    event.schema_version = row.try_get::<_, i32>(5).map_err(backend)? as u32;
    event.payload.clear();
    event
        .payload
        .extend_from_slice(row.try_get::<_, JsonbRef<'_>>(6).map_err(backend)?.0);
    event.recorded_at = row.try_get::<_, Timestamp>(8).map_err(backend)?.0;
    Ok(())
}

/// Whether `error` is the unique violation of `(stream_id, stream_version)`: a concurrent
/// writer took the version this append computed.
fn is_version_race(error: &tokio_postgres::Error) -> bool {
    error.as_db_error().is_some_and(|db| {
        db.code() == &tokio_postgres::error::SqlState::UNIQUE_VIOLATION
            && db.constraint() == Some("events_stream_version_unique")
    })
}

/// How often an append whose expectation still holds (`Any`, `StreamExists`) is retried
/// after a concurrent writer took the version it computed.
const VERSION_RACE_RETRIES: usize = 8;

#[async_trait]
impl EventStore for PostgresStore {
    async fn append(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        super::validate_sql_stream_id(stream_id)?;
        if events.is_empty() {
            return Err(StoreError::EmptyAppend {
                stream_id: stream_id.to_owned(),
            });
        }
        if let [event] = events.as_slice()
            && let Some(version) = expected.exact()
        {
            let result = self
                .append_one_at(stream_id, expected, version, event)
                .await?;
            self.announce(&result);
            return Ok(result);
        }
        let ids: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
        let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
        let versions: Vec<i32> = events.iter().map(|e| e.schema_version as i32).collect();
        let payloads: Vec<Jsonb<'_>> = events.iter().map(|e| Jsonb(&e.payload)).collect();
        let metadata = events
            .iter()
            .map(|e| encode_metadata(&e.metadata))
            .collect::<Result<Vec<_>, _>>()?;
        let metadata: Vec<Option<Jsonb<'_>>> =
            metadata.iter().map(|m| m.as_deref().map(Jsonb)).collect();
        let correlations: Vec<Option<Uuid>> =
            events.iter().map(|e| e.metadata.correlation_id).collect();
        let causations: Vec<Option<Uuid>> =
            events.iter().map(|e| e.metadata.causation_id).collect();
        let (kind, exact): (i32, i64) = match expected {
            ExpectedVersion::Any => (0, 0),
            ExpectedVersion::NoStream => (1, 0),
            ExpectedVersion::StreamExists => (2, 0),
            ExpectedVersion::Exact(version) => (3, to_i64(version)),
        };
        let client = self.client().await?;
        let statement = match client.prepare_cached(&self.sql.append).await {
            Ok(statement) => statement,
            Err(error) => return Err(failed(client, error)),
        };
        let mut attempt = 0;
        let rows = loop {
            let result = client
                .query(
                    &statement,
                    &[
                        &stream_id,
                        &ids,
                        &types,
                        &versions,
                        &payloads,
                        &metadata,
                        &kind,
                        &exact,
                        &correlations,
                        &causations,
                    ],
                )
                .await;
            match result {
                Ok(rows) => break rows,
                Err(error) if is_version_race(&error) => {
                    let retry = matches!(
                        expected,
                        ExpectedVersion::Any | ExpectedVersion::StreamExists
                    );
                    if retry && attempt < VERSION_RACE_RETRIES {
                        attempt += 1;
                        continue;
                    }
                    drop(client);
                    let actual = self.stream_version(stream_id).await?;
                    return Err(StoreError::WrongExpectedVersion {
                        stream_id: stream_id.to_owned(),
                        expected,
                        actual,
                    });
                }
                Err(error) => return Err(failed(client, error)),
            }
        };
        let current = rows
            .first()
            .map(|row| row.try_get::<_, i64>(0))
            .transpose()
            .map_err(backend)?
            .unwrap_or(0);
        let mut positions = Vec::with_capacity(rows.len());
        let mut stream_version = current as u64;
        let mut recorded_at: Option<DateTime<Utc>> = None;
        for row in &rows {
            let Some(position) = row.try_get::<_, Option<i64>>(1).map_err(backend)? else {
                return Err(StoreError::WrongExpectedVersion {
                    stream_id: stream_id.to_owned(),
                    expected,
                    actual: current as u64,
                });
            };
            positions.push(position as u64);
            stream_version = row.try_get::<_, i64>(2).map_err(backend)? as u64;
            recorded_at = Some(row.try_get(3).map_err(backend)?);
        }
        let result = AppendResult {
            stream_version,
            positions,
            recorded_at: recorded_at.unwrap_or_else(Utc::now),
        };
        self.announce(&result);
        Ok(result)
    }

    fn subscribe(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        self.listener.start(&self.appended);
        Some(self.appended.subscribe())
    }

    async fn read_stream(
        &self,
        stream_id: &str,
        from_version: u64,
        max_count: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        if max_count == 0 {
            return Ok(Vec::new());
        }
        let rows = self
            .query(
                &self.sql.read_stream,
                &[&stream_id, &to_i64(from_version), &to_i64(max_count as u64)],
            )
            .await?;
        rows.iter().map(read_event).collect()
    }

    async fn visit_stream(
        &self,
        stream_id: &str,
        from_version: u64,
        max_count: usize,
        visitor: &mut StreamVisitor<'_>,
    ) -> Result<usize, StoreError> {
        if max_count == 0 {
            return Ok(0);
        }
        let rows = self
            .query(
                &self.sql.visit_stream,
                &[&stream_id, &to_i64(from_version), &to_i64(max_count as u64)],
            )
            .await?;
        for row in &rows {
            let event = EventRef {
                stream_version: row.try_get::<_, i64>(0).map_err(backend)? as u64,
                event_type: row.try_get(1).map_err(backend)?,
                schema_version: row.try_get::<_, i32>(2).map_err(backend)? as u32,
                payload: row.try_get::<_, JsonbRef<'_>>(3).map_err(backend)?.0,
            };
            if visitor(event).is_break() {
                break;
            }
        }
        Ok(rows.len())
    }

    async fn read_all(
        &self,
        after_position: u64,
        max_count: usize,
        filter: &EventFilter,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        if max_count == 0 {
            return Ok(Vec::new());
        }
        let after = to_i64(after_position);
        let limit = to_i64(max_count as u64);
        let rows = match filter.event_types() {
            None => self.query(&self.sql.read_all, &[&after, &limit]).await?,
            Some([]) => return Ok(Vec::new()),
            Some(types) => {
                self.query(&self.sql.read_all_filtered, &[&after, &limit, &types])
                    .await?
            }
        };
        rows.iter().map(read_event).collect()
    }

    /// Hands each row over as it arrives from the server, filling one record per row (no
    /// allocation per event), so the visitor works while the rest of the batch is still on
    /// the wire.
    async fn visit_all(
        &self,
        after_position: u64,
        max_count: usize,
        filter: &EventFilter,
        visitor: &mut LogVisitor<'_>,
    ) -> Result<usize, StoreError> {
        if max_count == 0 {
            return Ok(0);
        }
        let after = to_i64(after_position);
        let limit = to_i64(max_count as u64);
        let types;
        let (sql, params): (&str, &[&(dyn ToSql + Sync)]) = match filter.event_types() {
            None => (&self.sql.read_all, &[&after, &limit]),
            Some([]) => return Ok(0),
            Some(filtered) => {
                types = filtered;
                (&self.sql.read_all_filtered, &[&after, &limit, &types])
            }
        };
        let client = self.client().await?;
        let statement = match client.prepare_cached(sql).await {
            Ok(statement) => statement,
            Err(error) => return Err(failed(client, error)),
        };
        let rows = match client
            .query_raw(&statement, params.iter().map(|p| *p as &dyn ToSql))
            .await
        {
            Ok(rows) => rows,
            Err(error) => return Err(failed(client, error)),
        };
        let mut rows = std::pin::pin!(rows);
        let mut event = RecordedEvent::blank();
        let mut read = 0;
        loop {
            let row = match rows.next().await {
                None => break,
                Some(Ok(row)) => row,
                Some(Err(error)) => return Err(failed(client, error)),
            };
            read += 1;
            fill_event(&row, &mut event)?;
            if visitor(&event).is_break() {
                break;
            }
        }
        Ok(read)
    }

    async fn count_after(
        &self,
        after_position: u64,
        filter: &EventFilter,
    ) -> Result<u64, StoreError> {
        let after = to_i64(after_position);
        let rows = match filter.event_types() {
            None => self.query(&self.sql.count_after, &[&after]).await?,
            Some([]) => return Ok(0),
            Some(types) => {
                self.query(&self.sql.count_after_filtered, &[&after, &types])
                    .await?
            }
        };
        let count: i64 = rows
            .first()
            .map(|row| row.try_get(0))
            .transpose()
            .map_err(backend)?
            .unwrap_or(0);
        Ok(count as u64)
    }

    async fn wait_for_visible_appends(
        &self,
        timeout: std::time::Duration,
    ) -> Result<bool, StoreError> {
        // Every transaction that has an id below the first unassigned one has started, so
        // once the oldest running transaction is at or past it, they have all ended.
        let deadline = tokio::time::Instant::now() + timeout;
        let client = self.client().await?;
        let horizon: String = client
            .query_one("SELECT pg_snapshot_xmax(pg_current_snapshot())::text", &[])
            .await
            .map_err(backend)?
            .get(0);
        let check = client
            .prepare_cached("SELECT pg_snapshot_xmin(pg_current_snapshot()) >= $1::text::xid8")
            .await
            .map_err(backend)?;
        let mut pause = std::time::Duration::from_micros(500);
        loop {
            let visible: bool = client
                .query_one(&check, &[&horizon])
                .await
                .map_err(backend)?
                .get(0);
            if visible {
                return Ok(true);
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(std::time::Duration::from_millis(20));
        }
    }

    async fn stream_version(&self, stream_id: &str) -> Result<u64, StoreError> {
        let rows = self.query(&self.sql.stream_version, &[&stream_id]).await?;
        Ok(rows
            .first()
            .map(|row| row.try_get::<_, i64>(0))
            .transpose()
            .map_err(backend)?
            .unwrap_or(0) as u64)
    }

    async fn head_position(&self) -> Result<u64, StoreError> {
        let rows = self.query(&self.sql.head_position, &[]).await?;
        Ok(rows
            .first()
            .map(|row| row.try_get::<_, i64>(0))
            .transpose()
            .map_err(backend)?
            .unwrap_or(0) as u64)
    }
}

#[async_trait]
impl SnapshotStore for PostgresStore {
    async fn load_snapshot(&self, stream_id: &str) -> Result<Option<Snapshot>, StoreError> {
        let rows = self.query(&self.sql.load_snapshot, &[&stream_id]).await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        Ok(Some(Snapshot {
            stream_id: stream_id.to_owned(),
            stream_version: row.try_get::<_, i64>(0).map_err(backend)? as u64,
            schema_version: row.try_get::<_, i32>(1).map_err(backend)? as u32,
            payload: row.try_get(2).map_err(backend)?,
            taken_at: row.try_get(3).map_err(backend)?,
        }))
    }

    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        super::validate_sql_stream_id(&snapshot.stream_id)?;
        self.query(
            &self.sql.save_snapshot,
            &[
                &snapshot.stream_id,
                &to_i64(snapshot.stream_version),
                &(snapshot.schema_version as i32),
                &snapshot.payload,
                &snapshot.taken_at,
            ],
        )
        .await?;
        Ok(())
    }
}

impl ToSql for SqlValue {
    /// Binds to whatever type PostgreSQL inferred for the parameter, within reason: an
    /// integer to any integer width (range-checked) or a float, text to text types, `uuid`
    /// and `jsonb`, bytes to `bytea`.
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        let mismatch = |what: &str| -> Box<dyn StdError + Sync + Send> {
            format!("cannot bind {what} to a parameter of type {ty}").into()
        };
        match self {
            SqlValue::Null => Ok(IsNull::Yes),
            SqlValue::Bool(value) if *ty == Type::BOOL => value.to_sql(ty, out),
            SqlValue::Int(value) => match *ty {
                Type::INT2 => i16::try_from(*value)?.to_sql(ty, out),
                Type::INT4 => i32::try_from(*value)?.to_sql(ty, out),
                Type::INT8 => value.to_sql(ty, out),
                Type::FLOAT8 => (*value as f64).to_sql(ty, out),
                Type::FLOAT4 => (*value as f32).to_sql(ty, out),
                _ => Err(mismatch("an integer")),
            },
            SqlValue::Real(value) => match *ty {
                Type::FLOAT8 => value.to_sql(ty, out),
                Type::FLOAT4 => (*value as f32).to_sql(ty, out),
                _ => Err(mismatch("a float")),
            },
            SqlValue::Text(value) => match *ty {
                Type::UUID => value.parse::<Uuid>()?.to_sql(ty, out),
                Type::JSONB => Jsonb(value.as_bytes()).to_sql(ty, out),
                _ if <&str as ToSql>::accepts(ty) => value.as_str().to_sql(ty, out),
                _ => Err(mismatch("text")),
            },
            SqlValue::Bytes(value) if *ty == Type::BYTEA => value.as_slice().to_sql(ty, out),
            SqlValue::Bool(_) => Err(mismatch("a boolean")),
            SqlValue::Bytes(_) => Err(mismatch("bytes")),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// Why a projection commit failed: the database, or another runner.
enum CommitFailure {
    Database(tokio_postgres::Error),
    Moved,
}

impl From<tokio_postgres::Error> for CommitFailure {
    fn from(error: tokio_postgres::Error) -> Self {
        CommitFailure::Database(error)
    }
}

impl PostgresStore {
    async fn commit_in(
        &self,
        client: &mut deadpool_postgres::Object,
        projection: &str,
        from: u64,
        to: u64,
        statements: &[SqlStatement],
    ) -> Result<(), CommitFailure> {
        let s = format!("\"{}\"", self.schema);
        let tx = client.transaction().await?;
        let move_checkpoint = tx
            .prepare_cached(&format!(
                "UPDATE {s}.checkpoints SET position = $3, updated_at = now() WHERE projection = $1 AND position = $2"
            ))
            .await?;
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
        let checkpoint_params: [&(dyn ToSql + Sync); 3] = [&projection, &from, &to];
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
            let inserted = if from == 0 {
                tx.execute(
                    &format!("INSERT INTO {s}.checkpoints (projection, position) VALUES ($1, $2) ON CONFLICT DO NOTHING"),
                    &[&projection, &to],
                )
                .await?
            } else {
                0
            };
            if inserted == 0 {
                return Err(CommitFailure::Moved);
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn run_in_transaction(
        &self,
        statements: &[String],
        then: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let result = async {
            let tx = client.transaction().await?;
            for statement in statements {
                tx.batch_execute(statement).await?;
            }
            if let Some(projection) = then {
                let s = format!("\"{}\"", self.schema);
                tx.execute(
                    &format!(
                        "INSERT INTO {s}.checkpoints (projection, position) VALUES ($1, 0)
                         ON CONFLICT (projection) DO UPDATE SET position = 0, updated_at = now()"
                    ),
                    &[&projection],
                )
                .await?;
            }
            tx.commit().await
        }
        .await;
        result.map_err(|error| failed(client, error))
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
        let version = i32::try_from(version).map_err(backend)?;
        let mut client = self.client().await?;
        let result = async {
            let tx = client.transaction().await?;
            // The row is locked until the switch commits: runners of two versions switching
            // at once take turns, and the older one then sees the newer live.
            tx.execute(
                &format!("INSERT INTO {s}.projection_versions (projection, version) VALUES ($1, -1) ON CONFLICT DO NOTHING"),
                &[&projection],
            )
            .await?;
            let live: i32 = tx
                .query_one(
                    &format!("SELECT version FROM {s}.projection_versions WHERE projection = $1 FOR UPDATE"),
                    &[&projection],
                )
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
            tx.execute(
                &format!("UPDATE {s}.projection_versions SET version = $2, switched_at = now() WHERE projection = $1"),
                &[&projection, &version],
            )
            .await?;
            tx.commit().await?;
            Ok(true)
        }
        .await;
        result.map_err(|error| failed(client, error))
    }

    async fn commit_projection(
        &self,
        projection: &str,
        from: u64,
        to: u64,
        statements: Vec<SqlStatement>,
    ) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        match self
            .commit_in(&mut client, projection, from, to, &statements)
            .await
        {
            Ok(()) => Ok(()),
            Err(CommitFailure::Moved) => Err(StoreError::CheckpointMoved {
                projection: projection.to_owned(),
                expected: from,
            }),
            Err(CommitFailure::Database(error)) => Err(failed(client, error)),
        }
    }

    async fn reset_projection(
        &self,
        projection: &str,
        statements: &[String],
    ) -> Result<(), StoreError> {
        self.run_in_transaction(statements, Some(projection)).await
    }
}

#[async_trait]
impl crate::projection::external::CheckpointStore for PostgresStore {
    async fn checkpoint(&self, projection: &str) -> Result<u64, StoreError> {
        let rows = self
            .query(
                &format!(
                    "SELECT position FROM \"{}\".checkpoints WHERE projection = $1",
                    self.schema
                ),
                &[&projection],
            )
            .await?;
        Ok(rows
            .first()
            .map(|row| row.try_get::<_, i64>(0))
            .transpose()
            .map_err(backend)?
            .unwrap_or(0) as u64)
    }

    async fn move_checkpoint(
        &self,
        projection: &str,
        from: u64,
        to: u64,
    ) -> Result<(), StoreError> {
        self.commit_projection(projection, from, to, Vec::new())
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::validate_schema_name;

    #[test]
    fn schema_names_are_plain_lowercase_identifiers() {
        assert!(validate_schema_name("annals").is_ok());
        assert!(validate_schema_name("_bank_2").is_ok());
        for bad in [
            "",
            "Bank",
            "2bank",
            "bank-prod",
            "bank\"; DROP SCHEMA public; --",
            "pg_temp",
            &"a".repeat(64),
        ] {
            assert!(validate_schema_name(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
