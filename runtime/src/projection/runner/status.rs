//! What an operator sees of a projection: its status, why it fails, how far behind it is,
//! and why a wait did not complete.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::store::{HiddenAppends, StoreError};

/// What a projection is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Status {
    /// It has not finished its first read yet.
    Starting,
    /// It is reading or waiting for new events.
    Running,
    /// It has read all it can see, but appends it was woken for stay hidden from readers
    /// behind a transaction left open on the server: it waits for that transaction.
    Waiting(Waiting),
    /// It stopped at an event, or the store failed; it retries with backoff.
    Failing(ProjectionFailure),
    /// It was stopped.
    Stopped,
}

/// Why a projection is stuck.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProjectionFailure {
    /// The projection's name.
    pub projection: &'static str,
    /// The global position of the event it cannot handle (`None`: the store failed).
    pub position: Option<u64>,
    /// That event's stream and type, when there is one.
    pub event: Option<(String, String)>,
    /// What went wrong.
    pub message: String,
    /// How many times in a row it has failed.
    pub attempts: u32,
}

impl std::fmt::Display for ProjectionFailure {
    /// `projection `balances` failing at position 42 (`account-7`, `Deposited`), attempt 3:
    /// ...`: what an operator needs to decide on a skip.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "projection `{}` failing", self.projection)?;
        if let Some(position) = self.position {
            write!(f, " at position {position}")?;
        }
        if let Some((stream, event_type)) = &self.event {
            write!(f, " (`{stream}`, `{event_type}`)")?;
        }
        if self.attempts > 0 {
            write!(f, ", attempt {}", self.attempts)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// What a projection waits for, and since when.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Waiting {
    /// The appends it cannot see yet, and the transaction holding them back.
    pub hidden: HiddenAppends,
    /// When it started waiting.
    pub since: DateTime<Utc>,
}

impl Waiting {
    /// How long it has been waiting.
    pub fn waited(&self) -> Duration {
        (Utc::now() - self.since).to_std().unwrap_or_default()
    }
}

impl std::fmt::Display for Waiting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "waiting for {:.1} s: {}",
            self.waited().as_secs_f64(),
            self.hidden
        )
    }
}

/// How far a projection is behind the log.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Lag {
    /// The position of the last event the projection handled (0: none yet).
    pub checkpoint: u64,
    /// The position of the last event in the log.
    pub head: u64,
    /// Positions of the log between the checkpoint and the head: events of every type
    /// (and, on PostgreSQL, numbers that rolled-back appends used), so a filtered projection
    /// that has caught up may show some. Free to compute.
    pub positions_behind: u64,
    /// Events the projection consumes that the store holds after its checkpoint and it has
    /// not handled yet: its lag in events, counted by the store.
    pub events_behind: u64,
    /// How long ago the oldest event the projection consumes but has not handled was
    /// recorded (zero when it has handled all of them).
    pub time_behind: Duration,
    /// What it waits for, when appends are hidden from it (see [`Status::Waiting`]):
    /// events behind such a transaction are not counted above until it ends.
    pub waiting: Option<Waiting>,
}

/// A read-your-writes wait that did not complete.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WaitError {
    /// The projection did not get there in time.
    #[error(
        "projection `{projection}` did not reach position {position} within {timeout:?}{}{}",
        failing.as_ref().map(|f| format!(" (it is failing: {})", f.message)).unwrap_or_default(),
        waiting.as_ref().map(|w| format!(" ({w})")).unwrap_or_default()
    )]
    Timeout {
        /// The projection.
        projection: &'static str,
        /// The position waited for.
        position: u64,
        /// The time allowed.
        timeout: Duration,
        /// Why the projection is stuck, if it is failing.
        failing: Option<ProjectionFailure>,
        /// What it waits for, if appends are hidden from it.
        waiting: Option<Waiting>,
    },
    /// The projection is stopped.
    #[error("projection `{projection}` is stopped")]
    Stopped {
        /// The projection.
        projection: &'static str,
    },
    /// The store failed while checking.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ProjectionFailure {
    /// A failure of projection `projection` at `event` (position, stream, type), or of the
    /// store or read model when there is none.
    pub(super) fn new(
        projection: &'static str,
        event: Option<(u64, String, String)>,
        message: String,
    ) -> Self {
        let (position, event) = match event {
            Some((position, stream, event_type)) => (Some(position), Some((stream, event_type))),
            None => (None, None),
        };
        ProjectionFailure {
            projection,
            position,
            event,
            message,
            attempts: 0,
        }
    }

    /// A failure at a stored row that does not read as an event: its position.
    pub(super) fn at(projection: &'static str, position: u64, message: String) -> Self {
        ProjectionFailure {
            projection,
            position: Some(position),
            event: None,
            message,
            attempts: 0,
        }
    }
}
