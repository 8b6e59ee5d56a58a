//! How a SQLite store is opened.

use std::path::PathBuf;
use std::time::Duration;

/// Durability of commits (SQLite's `synchronous` pragma in WAL mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Durability {
    /// `synchronous = NORMAL` (the default): a commit survives a crash of the process; the
    /// last commits before a power loss may be lost, never corrupted.
    #[default]
    Normal,
    /// `synchronous = FULL`: every commit is synced to disk before it returns.
    Full,
}

/// Opening options for [`SqliteStore`](super::SqliteStore).
///
/// ```
/// use std::time::Duration;
/// use annals::store::{Durability, SqliteOptions};
///
/// let options = SqliteOptions::new("bank.sqlite")
///     .with_durability(Durability::Full)
///     .with_busy_timeout(Duration::from_secs(10));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SqliteOptions {
    pub(super) path: PathBuf,
    pub(super) durability: Durability,
    pub(super) busy_timeout: Duration,
    pub(super) create: bool,
}

impl SqliteOptions {
    /// Options for the database file at `path`, created if missing; durability
    /// [`Durability::Normal`], a busy timeout of 5 s.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        SqliteOptions {
            path: path.into(),
            durability: Durability::Normal,
            busy_timeout: Duration::from_secs(5),
            create: true,
        }
    }

    /// Sets the commit durability.
    pub fn with_durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// How long a write waits for another process's write lock before failing.
    pub fn with_busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// Whether a missing file is created (the default) or opening fails.
    pub fn with_create(mut self, create: bool) -> Self {
        self.create = create;
        self
    }
}
