//! How a runner reads and waits.

use std::time::Duration;

use crate::backoff::Backoff;

/// How a runner reads and waits.
///
/// ```
/// use std::time::Duration;
/// use annals::projection::RunnerOptions;
///
/// let options = RunnerOptions::default()
///     .with_batch_size(500)
///     .with_poll_interval(Duration::from_millis(100));
/// assert_eq!(options.batch_size(), 500);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunnerOptions {
    pub(super) batch_size: usize,
    pub(super) poll_interval: Duration,
    pub(super) backoff: Backoff,
}

impl Default for RunnerOptions {
    /// Batches of 1,000; a poll every 250 ms; backoff from 10 ms to 5 s.
    fn default() -> Self {
        RunnerOptions {
            batch_size: 1_000,
            poll_interval: Duration::from_millis(250),
            backoff: Backoff::new(Duration::from_millis(10), Duration::from_secs(5)),
        }
    }
}

impl RunnerOptions {
    /// Events read per round trip (at least 1).
    pub fn with_batch_size(mut self, events: usize) -> Self {
        self.batch_size = events.max(1);
        self
    }

    /// How long a caught-up runner waits for a wake-up before it reads again anyway (the
    /// only way to see appends by other processes on stores without notifications).
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// The pause after a first failure (doubled after each further one), and the longest.
    pub fn with_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.backoff = Backoff::new(initial, max);
        self
    }

    /// Events read per round trip.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// How long a caught-up runner waits before it reads again anyway.
    pub fn poll_interval(&self) -> Duration {
        self.poll_interval
    }

    /// How long one wait for notified appends to become visible lasts: the poll interval,
    /// at most a second, after which a runner's status says what hides them.
    pub(super) fn visibility_wait(&self) -> Duration {
        self.poll_interval.min(Duration::from_secs(1))
    }

    /// The pause after `failures` failures in a row: exponential from the initial backoff,
    /// capped at the longest.
    pub(super) fn backoff_after(&self, failures: u32) -> Duration {
        self.backoff.after(failures)
    }
}
