//! The embedded SQLite event store: one file, WAL, schema created and migrated on open.
//!
//! SQLite calls are short (microseconds for an append, a page of rows for a read) and run on
//! the calling task, behind a mutex per connection; no `.await` happens while a connection is
//! held. Appends go through one writer connection in an `IMMEDIATE` transaction, so writers
//! in this process queue on the mutex. A writer in another process holding SQLite's lock
//! makes a write answer "busy" at once (the writer connection has no busy handler): the
//! call releases the connection, sleeps asynchronously and tries again, up to the busy
//! timeout, so a lock wait never blocks a runtime thread. Reads use a small pool of reader
//! connections, which WAL lets run beside the writer.

mod codec;
mod dead_letters;
mod error;
mod event_store;
mod inbox;
mod migrations;
mod options;
mod read_model;
mod sagas;
mod snapshots;
mod statements;

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};
use tokio::sync::watch;

pub use self::options::{Durability, SqliteOptions};
use crate::store::{Catalog, Head, StoreError};

/// The longest pause between two attempts of a write that found the file locked.
const MAX_BUSY_PAUSE: Duration = Duration::from_millis(20);

/// How many idle reader connections the store keeps.
const IDLE_READERS: usize = 4;

/// An [`EventStore`](crate::store::EventStore) (with snapshots, checkpoints and SQL read
/// models) in one SQLite file.
///
/// The handle is cheap to clone; clones share the connections.
///
/// ```
/// use annals::store::{EventStore, ExpectedVersion, Metadata, NewEvent, SqliteStore};
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
    /// Appends made through this handle (or a clone): wakes live readers.
    head: Head,
    catalog: Catalog,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.shared.options.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating and migrating if needed) the store in the file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(SqliteOptions::new(path.as_ref()))
    }

    /// Opens the store with `options`.
    pub fn open_with(options: SqliteOptions) -> Result<Self, StoreError> {
        let mut writer = connect(&options, true)?;
        migrations::migrate(&mut writer)?;
        let head = event_store::head_position(&writer)?;
        // From now on a lock wait is the caller's asynchronous retry (see `with_writer`).
        writer
            .busy_timeout(Duration::ZERO)
            .map_err(error::from_sqlite)?;
        Ok(SqliteStore {
            shared: Arc::new(Shared {
                options,
                writer: Mutex::new(writer),
                readers: Mutex::new(Vec::new()),
                head: Head::new(head),
                catalog: Catalog::default(),
            }),
        })
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

    /// Runs `work` on the writer connection. While another process holds the write lock,
    /// `work` fails with "busy" before writing anything; it is run again after an
    /// asynchronous pause (so the thread serves other tasks meanwhile), until the busy
    /// timeout has passed.
    async fn with_writer<T>(
        &self,
        mut work: impl FnMut(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut waited: Option<(Instant, Duration)> = None;
        loop {
            let attempt = {
                let mut connection = self
                    .shared
                    .writer
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                work(&mut connection)
            };
            match attempt {
                Err(StoreError::Unavailable(busy)) => {
                    let (since, pause) =
                        waited.get_or_insert((Instant::now(), Duration::from_millis(1)));
                    if since.elapsed() >= self.shared.options.busy_timeout {
                        return Err(StoreError::Unavailable(busy));
                    }
                    tokio::time::sleep(*pause).await;
                    *pause = (*pause * 2).min(MAX_BUSY_PAUSE);
                }
                done => return done,
            }
        }
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
            None => connect(&self.shared.options, false)?,
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

/// Turns on WAL (kept in the file: a no-op once set). Turning it on needs the file alone for
/// a moment, and SQLite answers "busy" at once instead of calling the busy handler when
/// another connection opens the same new file at that instant: retried here until
/// `busy_timeout`.
fn write_ahead_log(connection: &Connection, busy_timeout: Duration) -> Result<(), StoreError> {
    let deadline = Instant::now() + busy_timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        let mode = connection
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0));
        match mode {
            Ok(mode) if mode.eq_ignore_ascii_case("wal") => return Ok(()),
            Ok(mode) => {
                return Err(StoreError::InvalidOption {
                    option: "path",
                    value: format!(
                        "{} (journal mode `{mode}`)",
                        connection.path().unwrap_or("?")
                    ),
                    reason: "the database cannot use a write-ahead log (an in-memory database?)",
                });
            }
            Err(error) if error::is_busy(&error) && Instant::now() < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            Err(error) => return Err(error::from_sqlite(error)),
        }
    }
}

/// A connection to the store's file: the writer (which creates the file and turns WAL on)
/// or a reader.
fn connect(options: &SqliteOptions, writer: bool) -> Result<Connection, StoreError> {
    let backend = error::from_sqlite;
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
        write_ahead_log(&connection, options.busy_timeout)?;
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
