//! When the command path snapshots, and how it retries after a conflict.

use std::time::Duration;

/// When the repository stores a snapshot of an aggregate after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SnapshotPolicy {
    /// Never (the default): aggregates load from their events alone.
    #[default]
    Never,
    /// Whenever the stream version crosses a multiple of `n` (n > 0).
    EveryNEvents(u64),
}

impl SnapshotPolicy {
    pub(super) fn due(self, old_version: u64, new_version: u64) -> bool {
        match self {
            SnapshotPolicy::Never => false,
            SnapshotPolicy::EveryNEvents(0) => false,
            SnapshotPolicy::EveryNEvents(n) => old_version / n != new_version / n,
        }
    }
}

/// How often the command path reloads and retries after an optimistic concurrency conflict.
///
/// ```
/// use std::time::Duration;
/// use annals::RetryPolicy;
///
/// let patient = RetryPolicy::default()
///     .with_max_attempts(10)
///     .with_backoff(Duration::from_millis(1), Duration::from_millis(50));
/// assert_eq!(patient.max_attempts(), 10);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
}

impl Default for RetryPolicy {
    /// Five attempts; the first retry runs at once, then 1 ms, 2 ms, 4 ms.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::ZERO,
            max_backoff: Duration::from_millis(100),
        }
    }
}

impl RetryPolicy {
    /// No retry: the first conflict is returned to the caller.
    pub fn never() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// Attempts in all, the first included (at least 1).
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The pause before the first retry (doubled before each further one, from 1 ms at
    /// least), and the longest pause between two attempts.
    pub fn with_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max;
        self
    }

    /// Attempts in all, the first included.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    pub(super) fn backoff_before(&self, retry: u32) -> Duration {
        // retry 1 waits `initial_backoff` (or nothing), retry k waits 2^(k-2) ms at least.
        let base = if retry <= 1 {
            self.initial_backoff
        } else {
            self.initial_backoff
                .max(Duration::from_millis(1))
                .saturating_mul(1 << (retry - 2).min(16))
        };
        base.min(self.max_backoff)
    }
}
