//! The embedded SQLite event store: one file, WAL, schema created and migrated on open.
//!
//! SQLite calls are short (microseconds for an append, a page of rows for a read) and run on
//! the calling task, behind a mutex per connection; no `.await` happens while a connection is
//! held. Appends go through one writer connection in an `IMMEDIATE` transaction, so writers
//! in this process queue on the mutex and writers in other processes on SQLite's lock (with
//! a busy timeout). Reads use a small pool of reader connections, which WAL lets run beside
//! the writer.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};
use tokio::sync::watch;
use uuid::Uuid;

use crate::projection::sql::{SqlStatement, SqlTarget, SqlValue, numbered_placeholders_for_sqlite};

use super::{
    AppendResult, EventFilter, EventRef, EventStore, ExpectedVersion, LogVisitor, Metadata,
    NewEvent, RecordedEvent, Snapshot, SnapshotStore, StoreError, StreamVisitor,
};

/// The schema, one migration per entry, applied in order on open and recorded in
/// `annals_migrations`. Append only: never edit a released migration.
pub const MIGRATIONS: &[(&str, &str)] = &[
    (
        "0001_events_and_snapshots",
        "CREATE TABLE annals_events (
        position       INTEGER PRIMARY KEY AUTOINCREMENT,
        stream_id      TEXT    NOT NULL,
        stream_version INTEGER NOT NULL,
        event_id       BLOB    NOT NULL,
        event_type     TEXT    NOT NULL,
        schema_version INTEGER NOT NULL,
        payload        BLOB    NOT NULL,
        metadata       TEXT,
        recorded_at    INTEGER NOT NULL,
        UNIQUE (stream_id, stream_version)
    );
    CREATE INDEX annals_events_by_type ON annals_events (event_type, position);
    CREATE TABLE annals_snapshots (
        stream_id      TEXT    PRIMARY KEY,
        stream_version INTEGER NOT NULL,
        schema_version INTEGER NOT NULL,
        payload        BLOB    NOT NULL,
        taken_at       INTEGER NOT NULL
    );",
    ),
    (
        "0002_projection_checkpoints",
        "CREATE TABLE annals_checkpoints (
        projection  TEXT    PRIMARY KEY,
        position    INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL
    );",
    ),
    (
        "0003_metadata_ids_as_columns",
        "ALTER TABLE annals_events ADD COLUMN correlation_id BLOB;
    ALTER TABLE annals_events ADD COLUMN causation_id BLOB;",
    ),
    (
        "0004_live_projection_versions",
        "CREATE TABLE annals_projection_versions (
        projection  TEXT    PRIMARY KEY,
        version     INTEGER NOT NULL,
        switched_at INTEGER NOT NULL
    );",
    ),
];

/// A filtered read of the global log first walks `max_count × this` positions in order
/// before it turns to the type index (see `read_all`).
const SCAN_WINDOW_FACTOR: i64 = 4;

/// How many idle reader connections the store keeps.
const IDLE_READERS: usize = 4;

/// Durability of commits (SQLite's `synchronous` pragma in WAL mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `synchronous = NORMAL` (the default): a commit survives a crash of the process; the
    /// last commits before a power loss may be lost, never corrupted.
    #[default]
    Normal,
    /// `synchronous = FULL`: every commit is synced to disk before it returns.
    Full,
}

/// Opening options for [`SqliteStore`].
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    path: PathBuf,
    durability: Durability,
    busy_timeout: Duration,
    create: bool,
}

impl SqliteOptions {
    /// Options for the database file at `path`, created if missing.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        SqliteOptions {
            path: path.into(),
            durability: Durability::Normal,
            busy_timeout: Duration::from_secs(5),
            create: true,
        }
    }

    /// Sets the commit durability.
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// How long a write waits for another process's write lock before failing.
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// Fails to open instead of creating a missing file.
    pub fn must_exist(mut self) -> Self {
        self.create = false;
        self
    }
}

/// An [`EventStore`] and [`SnapshotStore`] in one SQLite file.
///
/// The handle is cheap to clone; clones share the connections.
///
/// ```
/// use annals::store::sqlite::SqliteStore;
/// use annals::{EventStore, ExpectedVersion, Metadata, NewEvent};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = std::env::temp_dir().join(format!("annals-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let store = SqliteStore::open(dir.join("bank.sqlite"))?;
/// let event = NewEvent::new("Opened", 1, br#"{"owner":"Ada"}"#.to_vec(), Metadata::default());
/// let appended = store.append("account-ada", ExpectedVersion::Any, vec![event]).await?;
/// assert!(appended.stream_version >= 1);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SqliteStore {
    shared: Arc<Shared>,
}

struct Shared {
    options: SqliteOptions,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    head: watch::Sender<u64>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.shared.options.path)
            .finish_non_exhaustive()
    }
}

fn backend(error: rusqlite::Error) -> StoreError {
    StoreError::Backend(Box::new(error))
}

/// SQLite stores integers as i64: positions, versions and counts above it are clamped.
fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn micros_to_time(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// `now`, truncated to the microseconds SQLite keeps, so what append returns equals what a
/// read returns.
fn now_micros() -> (DateTime<Utc>, i64) {
    let micros = Utc::now().timestamp_micros();
    (micros_to_time(micros), micros)
}

impl SqliteStore {
    /// Opens (creating and migrating if needed) the store in the file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(SqliteOptions::new(path.as_ref()))
    }

    /// Opens the store with `options`.
    pub fn open_with(options: SqliteOptions) -> Result<Self, StoreError> {
        let mut writer = Self::connect(&options, true)?;
        migrate(&mut writer)?;
        let head = head_position(&writer)?;
        let (head, _) = watch::channel(head);
        Ok(SqliteStore {
            shared: Arc::new(Shared {
                options,
                writer: Mutex::new(writer),
                readers: Mutex::new(Vec::new()),
                head,
            }),
        })
    }

    fn connect(options: &SqliteOptions, writer: bool) -> Result<Connection, StoreError> {
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        if writer && options.create {
            flags |= OpenFlags::SQLITE_OPEN_CREATE;
        }
        let connection = Connection::open_with_flags(&options.path, flags).map_err(backend)?;
        connection
            .busy_timeout(options.busy_timeout)
            .map_err(backend)?;
        if writer {
            connection
                .pragma_update(None, "journal_mode", "WAL")
                .map_err(backend)?;
        }
        let synchronous = match options.durability {
            Durability::Normal => "NORMAL",
            Durability::Full => "FULL",
        };
        connection
            .pragma_update(None, "synchronous", synchronous)
            .map_err(backend)?;
        connection.set_prepared_statement_cache_capacity(32);
        Ok(connection)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.shared.options.path
    }

    /// A receiver of the head position, updated after each append made through this handle
    /// (or a clone). Appends by other processes are seen by reading, not by this receiver.
    pub fn subscribe_head(&self) -> watch::Receiver<u64> {
        self.shared.head.subscribe()
    }

    fn with_writer<T>(
        &self,
        work: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut connection = self
            .shared
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        work(&mut connection)
    }

    fn with_reader<T>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let pooled = self
            .shared
            .readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let connection = match pooled {
            Some(connection) => connection,
            None => Self::connect(&self.shared.options, false)?,
        };
        let result = work(&connection);
        let mut idle = self
            .shared
            .readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if idle.len() < IDLE_READERS {
            idle.push(connection);
        }
        result
    }
}

fn migrate(connection: &mut Connection) -> Result<(), StoreError> {
    let tx = connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(backend)?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS annals_migrations (
            name       TEXT PRIMARY KEY,
            applied_at INTEGER NOT NULL
        );",
    )
    .map_err(backend)?;
    for (name, sql) in MIGRATIONS {
        let applied: Option<i64> = tx
            .query_row(
                "SELECT 1 FROM annals_migrations WHERE name = ?1",
                [name],
                |row| row.get(0),
            )
            .optional()
            .map_err(backend)?;
        if applied.is_none() {
            tx.execute_batch(sql).map_err(backend)?;
            tx.execute(
                "INSERT INTO annals_migrations (name, applied_at) VALUES (?1, ?2)",
                params![name, now_micros().1],
            )
            .map_err(backend)?;
        }
    }
    tx.commit().map_err(backend)
}

fn head_position(connection: &Connection) -> Result<u64, StoreError> {
    connection
        .query_row(
            "SELECT COALESCE(MAX(position), 0) FROM annals_events",
            [],
            |row| row.get::<_, i64>(0),
        )
        .map(|p| p as u64)
        .map_err(backend)
}

const SELECT_EVENT: &str = "SELECT position, stream_id, stream_version, event_id, event_type, schema_version, payload, metadata, recorded_at, correlation_id, causation_id FROM annals_events";

fn read_row(row: &rusqlite::Row<'_>) -> Result<RecordedEvent, StoreError> {
    let event_type = text(row, 4)?;
    new_event(row, event_type)
}

/// A record of the row, its type name already read (see [`row_type`]).
fn new_event(row: &rusqlite::Row<'_>, event_type: &str) -> Result<RecordedEvent, StoreError> {
    let mut event = RecordedEvent::blank();
    fill_event(row, event_type, &mut event)?;
    Ok(event)
}

fn conversion(error: rusqlite::types::FromSqlError) -> StoreError {
    StoreError::Backend(Box::new(error))
}

fn text<'r>(row: &'r rusqlite::Row<'_>, index: usize) -> Result<&'r str, StoreError> {
    row.get_ref(index)
        .map_err(backend)?
        .as_str()
        .map_err(conversion)
}

fn uuid(row: &rusqlite::Row<'_>, index: usize) -> Result<Option<Uuid>, StoreError> {
    match row
        .get_ref(index)
        .map_err(backend)?
        .as_blob_or_null()
        .map_err(conversion)?
    {
        None => Ok(None),
        Some(bytes) => Uuid::from_slice(bytes)
            .map(Some)
            .map_err(|e| StoreError::Backend(Box::new(e))),
    }
}

/// The type name of a row of [`SELECT_EVENT`] if `types` (a filter's names; `None`: every
/// type) takes it. A name that equals one of the filter's is taken from the filter: compared
/// as bytes, it needs no UTF-8 check of its own.
fn row_type<'r>(
    row: &'r rusqlite::Row<'_>,
    types: Option<&'r [String]>,
) -> Result<Option<&'r str>, StoreError> {
    let Some(types) = types else {
        return text(row, 4).map(Some);
    };
    let name = row
        .get_ref(4)
        .map_err(backend)?
        .as_bytes()
        .map_err(conversion)?;
    Ok(types
        .iter()
        .find(|wanted| wanted.as_bytes() == name)
        .map(String::as_str))
}

/// Overwrites `event` with the row (a row of [`SELECT_EVENT`] of type `event_type`), reusing
/// its buffers: a reader of the log fills one record per row instead of allocating one.
fn fill_event(
    row: &rusqlite::Row<'_>,
    event_type: &str,
    event: &mut RecordedEvent,
) -> Result<(), StoreError> {
    event.position = row.get::<_, i64>(0).map_err(backend)? as u64;
    event.stream_id.clear();
    event.stream_id.push_str(text(row, 1)?);
    event.stream_version = row.get::<_, i64>(2).map_err(backend)? as u64;
    event.event_id = uuid(row, 3)?.unwrap_or_default();
    event.event_type.clear();
    event.event_type.push_str(event_type);
    event.schema_version = row.get::<_, i64>(5).map_err(backend)? as u32;
    event.payload.clear();
    event.payload.extend_from_slice(
        row.get_ref(6)
            .map_err(backend)?
            .as_bytes()
            .map_err(conversion)?,
    );
    // The metadata's JSON holds user key/values only; events written before migration
    // 0003 also keep their ids there.
    event.metadata = match row
        .get_ref(7)
        .map_err(backend)?
        .as_str_or_null()
        .map_err(conversion)?
    {
        None => Metadata::default(),
        Some(json) => serde_json::from_str(json).map_err(|e| StoreError::Backend(Box::new(e)))?,
    };
    event.recorded_at = micros_to_time(row.get(8).map_err(backend)?);
    if let Some(id) = uuid(row, 9)? {
        event.metadata.correlation_id = Some(id);
    }
    if let Some(id) = uuid(row, 10)? {
        event.metadata.causation_id = Some(id);
    }
    Ok(())
}

/// What `scan_log` hands each row to, with its type name.
type RowVisitor<'v> =
    dyn FnMut(&rusqlite::Row<'_>, &str) -> Result<ControlFlow<()>, StoreError> + 'v;

/// Reads the events of the global log after `after_position` that pass `filter` (at most
/// `max_count`), handing each row and its type name to `on_row` until it breaks; returns
/// how many events it handed over. `read_all` and `visit_all` differ only in what they do
/// with a row.
fn scan_log(
    connection: &Connection,
    after_position: u64,
    max_count: usize,
    filter: &EventFilter,
    on_row: &mut RowVisitor<'_>,
) -> Result<usize, StoreError> {
    let types = filter.event_types();
    let mut read = 0;
    // Hands over the rows of one statement that pass the filter; false once `on_row` broke
    // off or `max_count` events were handed over.
    let mut run = |sql: &str, params: &[&dyn rusqlite::ToSql]| -> Result<bool, StoreError> {
        let mut statement = connection.prepare_cached(sql).map_err(backend)?;
        let mut rows = statement.query(params).map_err(backend)?;
        while read < max_count
            && let Some(row) = rows.next().map_err(backend)?
        {
            let Some(event_type) = row_type(row, types)? else {
                continue;
            };
            read += 1;
            if on_row(row, event_type)?.is_break() {
                return Ok(false);
            }
        }
        Ok(read < max_count)
    };
    let after = to_i64(after_position);
    let limit = to_i64(max_count as u64);
    match types {
        _ if max_count == 0 => {}
        Some([]) => {}
        None => {
            run(
                &format!("{SELECT_EVENT} WHERE position > ?1 ORDER BY position LIMIT ?2"),
                params![after, limit],
            )?;
        }
        Some(names) => {
            // SQLite cannot tell how selective the types are, so the plan is chosen here.
            // First a walk of the next rows by position, the type checked here before any
            // other column is read: a filter that matches much of the log fills the batch
            // there, with no sort. Only a sparse filter goes on to the type index, which
            // reaches its few rows without walking the others.
            let window_end = after.saturating_add(limit.saturating_mul(SCAN_WINDOW_FACTOR));
            let more = run(
                &format!("{SELECT_EVENT} WHERE position > ?1 AND position <= ?2 ORDER BY position"),
                params![after, window_end],
            )?;
            if more {
                // The types travel as one JSON array parameter, so the statement text (and
                // its cache entry) does not depend on how many types the filter names.
                let names =
                    serde_json::to_string(names).map_err(|e| StoreError::Backend(Box::new(e)))?;
                run(
                    &format!(
                        "{SELECT_EVENT} INDEXED BY annals_events_by_type
                         WHERE event_type IN (SELECT value FROM json_each(?3)) AND position > ?1
                         ORDER BY position LIMIT ?2"
                    ),
                    params![window_end, limit, names],
                )?;
            }
        }
    }
    Ok(read)
}

/// The command path's append (one event at a known version) as one statement, atomic on its
/// own: the event goes in at `version + 1` only if the stream is at `version`. A stream
/// behind it inserts nothing (the guard); one ahead of it trips the unique index.
fn append_one_at(
    connection: &Connection,
    stream_id: &str,
    expected: ExpectedVersion,
    version: u64,
    event: &NewEvent,
    metadata: Option<&str>,
) -> Result<AppendResult, StoreError> {
    let (recorded_at, micros) = now_micros();
    let inserted = connection
        .prepare_cached(
            "INSERT INTO annals_events (stream_id, stream_version, event_id, event_type, schema_version, payload, metadata, recorded_at, correlation_id, causation_id)
             SELECT ?1, ?2 + 1, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10
             WHERE ?2 = 0 OR EXISTS (SELECT 1 FROM annals_events WHERE stream_id = ?1 AND stream_version = ?2)",
        )
        .and_then(|mut insert| {
            insert.execute(params![
                stream_id,
                to_i64(version),
                event.event_id.as_bytes(),
                event.event_type,
                event.schema_version,
                event.payload,
                metadata,
                micros,
                event.metadata.correlation_id.as_ref().map(Uuid::as_bytes),
                event.metadata.causation_id.as_ref().map(Uuid::as_bytes),
            ])
        });
    let conflict = |connection: &Connection| -> Result<AppendResult, StoreError> {
        let actual = current_version(connection, stream_id)?;
        Err(StoreError::WrongExpectedVersion {
            stream_id: stream_id.to_owned(),
            expected,
            actual,
        })
    };
    match inserted {
        Ok(1) => Ok(AppendResult {
            stream_version: version + 1,
            positions: vec![connection.last_insert_rowid() as u64],
            recorded_at,
        }),
        Ok(_) => conflict(connection),
        Err(rusqlite::Error::SqliteFailure(error, _))
            if error.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE =>
        {
            conflict(connection)
        }
        Err(error) => Err(backend(error)),
    }
}

fn current_version(connection: &Connection, stream_id: &str) -> Result<u64, StoreError> {
    connection
        .prepare_cached(
            "SELECT COALESCE(MAX(stream_version), 0) FROM annals_events WHERE stream_id = ?1",
        )
        .and_then(|mut statement| statement.query_row([stream_id], |row| row.get::<_, i64>(0)))
        .map(|version| version as u64)
        .map_err(backend)
}

/// The metadata's JSON: only when it has user key/values (correlation and causation ids
/// have columns of their own: 16 bytes each, no JSON to parse per row).
fn encode_metadata(metadata: &Metadata) -> Result<Option<String>, StoreError> {
    if metadata.extra.is_empty() {
        return Ok(None);
    }
    serde_json::to_string(metadata)
        .map(Some)
        .map_err(|e| StoreError::Backend(Box::new(e)))
}

#[async_trait]
impl EventStore for SqliteStore {
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
        let metadata = events
            .iter()
            .map(|e| encode_metadata(&e.metadata))
            .collect::<Result<Vec<_>, _>>()?;
        let result = self.with_writer(|connection| {
            if let [event] = events.as_slice()
                && let Some(version) = expected.exact()
            {
                return append_one_at(connection, stream_id, expected, version, event, metadata[0].as_deref());
            }
            let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend)?;
            let current = current_version(&tx, stream_id)?;
            if !expected.accepts(current) {
                return Err(StoreError::WrongExpectedVersion { stream_id: stream_id.to_owned(), expected, actual: current });
            }
            let (recorded_at, micros) = now_micros();
            let mut positions = Vec::with_capacity(events.len());
            {
                let mut insert = tx
                    .prepare_cached(
                        "INSERT INTO annals_events (stream_id, stream_version, event_id, event_type, schema_version, payload, metadata, recorded_at, correlation_id, causation_id)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                    )
                    .map_err(backend)?;
                for (offset, (event, metadata)) in events.iter().zip(&metadata).enumerate() {
                    insert
                        .execute(params![
                            stream_id,
                            to_i64(current + 1 + offset as u64),
                            event.event_id.as_bytes(),
                            event.event_type,
                            event.schema_version,
                            event.payload,
                            metadata,
                            micros,
                            event.metadata.correlation_id.as_ref().map(Uuid::as_bytes),
                            event.metadata.causation_id.as_ref().map(Uuid::as_bytes),
                        ])
                        .map_err(backend)?;
                    positions.push(tx.last_insert_rowid() as u64);
                }
            }
            tx.commit().map_err(backend)?;
            Ok(AppendResult { stream_version: current + events.len() as u64, positions, recorded_at })
        })?;
        let last = result.last_position();
        self.shared.head.send_if_modified(|head| {
            let advanced = last > *head;
            if advanced {
                *head = last;
            }
            advanced
        });
        Ok(result)
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
        self.with_reader(|connection| {
            let mut statement = connection
                .prepare_cached(&format!(
                    "{SELECT_EVENT} WHERE stream_id = ?1 AND stream_version >= ?2 ORDER BY stream_version LIMIT ?3"
                ))
                .map_err(backend)?;
            let mut rows = statement
                .query(params![stream_id, to_i64(from_version), to_i64(max_count as u64)])
                .map_err(backend)?;
            let mut events = Vec::new();
            while let Some(row) = rows.next().map_err(backend)? {
                events.push(read_row(row)?);
            }
            Ok(events)
        })
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
        let conversion = |e: rusqlite::types::FromSqlError| StoreError::Backend(Box::new(e));
        self.with_reader(|connection| {
            let mut statement = connection
                .prepare_cached(
                    "SELECT stream_version, event_type, schema_version, payload
                     FROM annals_events WHERE stream_id = ?1 AND stream_version >= ?2
                     ORDER BY stream_version LIMIT ?3",
                )
                .map_err(backend)?;
            let mut rows = statement
                .query(params![
                    stream_id,
                    to_i64(from_version),
                    to_i64(max_count as u64)
                ])
                .map_err(backend)?;
            let mut read = 0;
            while let Some(row) = rows.next().map_err(backend)? {
                read += 1;
                let event = EventRef {
                    stream_version: row.get::<_, i64>(0).map_err(backend)? as u64,
                    event_type: row
                        .get_ref(1)
                        .map_err(backend)?
                        .as_str()
                        .map_err(conversion)?,
                    schema_version: row.get::<_, i64>(2).map_err(backend)? as u32,
                    payload: row
                        .get_ref(3)
                        .map_err(backend)?
                        .as_blob()
                        .map_err(conversion)?,
                };
                if visitor(event).is_break() {
                    break;
                }
            }
            Ok(read)
        })
    }

    async fn read_all(
        &self,
        after_position: u64,
        max_count: usize,
        filter: &EventFilter,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.with_reader(|connection| {
            let mut events = Vec::new();
            scan_log(
                connection,
                after_position,
                max_count,
                filter,
                &mut |row, event_type| {
                    events.push(new_event(row, event_type)?);
                    Ok(ControlFlow::Continue(()))
                },
            )?;
            Ok(events)
        })
    }

    /// Fills one record per row, reusing its buffers: no allocation per event.
    async fn visit_all(
        &self,
        after_position: u64,
        max_count: usize,
        filter: &EventFilter,
        visitor: &mut LogVisitor<'_>,
    ) -> Result<usize, StoreError> {
        self.with_reader(|connection| {
            let mut event = RecordedEvent::blank();
            scan_log(
                connection,
                after_position,
                max_count,
                filter,
                &mut |row, event_type| {
                    fill_event(row, event_type, &mut event)?;
                    Ok(visitor(&event))
                },
            )
        })
    }

    async fn count_after(
        &self,
        after_position: u64,
        filter: &EventFilter,
    ) -> Result<u64, StoreError> {
        let after = to_i64(after_position);
        self.with_reader(|connection| {
            let count = match filter.event_types() {
                None => connection
                    .prepare_cached("SELECT count(*) FROM annals_events WHERE position > ?1")
                    .and_then(|mut statement| statement.query_row([after], |row| row.get(0))),
                Some([]) => Ok(0i64),
                Some(types) => {
                    let types = serde_json::to_string(types)
                        .map_err(|e| StoreError::Backend(Box::new(e)))?;
                    connection
                        .prepare_cached(
                            "SELECT count(*) FROM annals_events
                             WHERE event_type IN (SELECT value FROM json_each(?2)) AND position > ?1",
                        )
                        .and_then(|mut statement| {
                            statement.query_row(params![after, types], |row| row.get(0))
                        })
                }
            };
            count.map(|count| count as u64).map_err(backend)
        })
    }

    fn subscribe(&self) -> Option<watch::Receiver<u64>> {
        Some(self.subscribe_head())
    }

    async fn stream_version(&self, stream_id: &str) -> Result<u64, StoreError> {
        self.with_reader(|connection| current_version(connection, stream_id))
    }

    async fn head_position(&self) -> Result<u64, StoreError> {
        self.with_reader(head_position)
    }
}

#[async_trait]
impl SnapshotStore for SqliteStore {
    async fn load_snapshot(&self, stream_id: &str) -> Result<Option<Snapshot>, StoreError> {
        self.with_reader(|connection| {
            connection
                .prepare_cached(
                    "SELECT stream_version, schema_version, payload, taken_at FROM annals_snapshots WHERE stream_id = ?1",
                )
                .and_then(|mut statement| {
                    statement
                        .query_row([stream_id], |row| {
                            Ok(Snapshot {
                                stream_id: stream_id.to_owned(),
                                stream_version: row.get::<_, i64>(0)? as u64,
                                schema_version: row.get::<_, i64>(1)? as u32,
                                payload: row.get(2)?,
                                taken_at: micros_to_time(row.get(3)?),
                            })
                        })
                        .optional()
                })
                .map_err(backend)
        })
    }

    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        super::validate_sql_stream_id(&snapshot.stream_id)?;
        self.with_writer(|connection| {
            connection
                .prepare_cached(
                    "INSERT INTO annals_snapshots (stream_id, stream_version, schema_version, payload, taken_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (stream_id) DO UPDATE SET
                        stream_version = excluded.stream_version,
                        schema_version = excluded.schema_version,
                        payload = excluded.payload,
                        taken_at = excluded.taken_at
                     WHERE excluded.stream_version >= annals_snapshots.stream_version",
                )
                .and_then(|mut statement| {
                    statement.execute(params![
                        snapshot.stream_id,
                        to_i64(snapshot.stream_version),
                        snapshot.schema_version,
                        snapshot.payload,
                        snapshot.taken_at.timestamp_micros(),
                    ])
                })
                .map(|_| ())
                .map_err(backend)
        })
    }
}

impl rusqlite::ToSql for SqlValue {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(match self {
            SqlValue::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            SqlValue::Bool(value) => ToSqlOutput::Borrowed(ValueRef::Integer(i64::from(*value))),
            SqlValue::Int(value) => ToSqlOutput::Borrowed(ValueRef::Integer(*value)),
            SqlValue::Real(value) => ToSqlOutput::Borrowed(ValueRef::Real(*value)),
            SqlValue::Text(value) => ToSqlOutput::Borrowed(ValueRef::Text(value.as_bytes())),
            SqlValue::Bytes(value) => ToSqlOutput::Borrowed(ValueRef::Blob(value)),
        })
    }
}

/// Moves `projection`'s checkpoint from `from` to `to` inside `tx`, or fails when another
/// runner moved it (the transaction then rolls back).
fn move_checkpoint(
    tx: &Connection,
    projection: &str,
    from: u64,
    to: u64,
) -> Result<(), StoreError> {
    let moved = || StoreError::CheckpointMoved {
        projection: projection.to_owned(),
        expected: from,
    };
    let now = now_micros().1;
    let updated = tx
        .prepare_cached(
            "UPDATE annals_checkpoints SET position = ?3, updated_at = ?4 WHERE projection = ?1 AND position = ?2",
        )
        .and_then(|mut statement| statement.execute(params![projection, to_i64(from), to_i64(to), now]))
        .map_err(backend)?;
    if updated == 1 {
        return Ok(());
    }
    if from != 0 {
        return Err(moved());
    }
    // No checkpoint yet: the first commit creates it, unless another runner just did.
    match tx.execute(
        "INSERT INTO annals_checkpoints (projection, position, updated_at) VALUES (?1, ?2, ?3)",
        params![projection, to_i64(to), now],
    ) {
        Ok(_) => Ok(()),
        Err(rusqlite::Error::SqliteFailure(error, _))
            if error.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            Err(moved())
        }
        Err(error) => Err(backend(error)),
    }
}

#[async_trait]
impl SqlTarget for SqliteStore {
    async fn prepare_read_model(&self, statements: &[String]) -> Result<(), StoreError> {
        self.with_writer(|connection| {
            let tx = connection
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(backend)?;
            for statement in statements {
                tx.execute_batch(statement).map_err(backend)?;
            }
            tx.commit().map_err(backend)
        })
    }

    async fn publish_version(
        &self,
        projection: &str,
        version: u32,
        views: &[(String, String)],
    ) -> Result<bool, StoreError> {
        self.with_writer(|connection| {
            let tx = connection
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(backend)?;
            let live: Option<i64> = tx
                .query_row(
                    "SELECT version FROM annals_projection_versions WHERE projection = ?1",
                    [projection],
                    |row| row.get(0),
                )
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
                "INSERT INTO annals_projection_versions (projection, version, switched_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (projection) DO UPDATE SET version = excluded.version, switched_at = excluded.switched_at",
                params![projection, version, now_micros().1],
            )
            .map_err(backend)?;
            tx.commit().map_err(backend)?;
            Ok(true)
        })
    }

    async fn commit_projection(
        &self,
        projection: &str,
        from: u64,
        to: u64,
        statements: Vec<SqlStatement>,
    ) -> Result<(), StoreError> {
        self.with_writer(|connection| {
            let tx = connection
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(backend)?;
            {
                // A batch repeats a few statement texts many times: each is rewritten and
                // prepared once per batch, not once per event.
                let mut prepared: Vec<(&str, rusqlite::CachedStatement<'_>)> = Vec::new();
                for statement in &statements {
                    let index = match prepared.iter().position(|(sql, _)| *sql == &*statement.sql) {
                        Some(index) => index,
                        None => {
                            let sql = numbered_placeholders_for_sqlite(&statement.sql);
                            let cached = tx.prepare_cached(&sql).map_err(backend)?;
                            prepared.push((&statement.sql, cached));
                            prepared.len() - 1
                        }
                    };
                    prepared[index]
                        .1
                        .execute(rusqlite::params_from_iter(&statement.params))
                        .map_err(backend)?;
                }
            }
            move_checkpoint(&tx, projection, from, to)?;
            tx.commit().map_err(backend)
        })
    }

    async fn reset_projection(
        &self,
        projection: &str,
        statements: &[String],
    ) -> Result<(), StoreError> {
        self.with_writer(|connection| {
            let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend)?;
            for statement in statements {
                tx.execute_batch(statement).map_err(backend)?;
            }
            tx.execute(
                "INSERT INTO annals_checkpoints (projection, position, updated_at) VALUES (?1, 0, ?2)
                 ON CONFLICT (projection) DO UPDATE SET position = 0, updated_at = excluded.updated_at",
                params![projection, now_micros().1],
            )
            .map_err(backend)?;
            tx.commit().map_err(backend)
        })
    }
}

#[async_trait]
impl crate::projection::external::CheckpointStore for SqliteStore {
    async fn checkpoint(&self, projection: &str) -> Result<u64, StoreError> {
        self.with_reader(|connection| {
            connection
                .prepare_cached("SELECT position FROM annals_checkpoints WHERE projection = ?1")
                .and_then(|mut statement| {
                    statement
                        .query_row([projection], |row| row.get::<_, i64>(0))
                        .optional()
                })
                .map(|position| position.unwrap_or(0) as u64)
                .map_err(backend)
        })
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
