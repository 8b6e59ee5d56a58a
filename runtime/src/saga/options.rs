//! How a saga runner retries steps and compensations, and how much it runs at once.

use std::time::Duration;

/// How often a failing step or compensation is tried, and the pauses between tries: the
/// first pause is `first`, each next one twice the one before, at most `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retries {
    /// Tries in all, the first included (at least 1).
    pub tries: u32,
    /// The pause after the first failure.
    pub first: Duration,
    /// The longest pause.
    pub max: Duration,
}

impl Retries {
    /// `tries` tries, pausing `first`, then twice as long each time, at most 5 minutes.
    pub const fn new(tries: u32, first: Duration) -> Self {
        Retries {
            tries: if tries == 0 { 1 } else { tries },
            first,
            max: Duration::from_secs(300),
        }
    }

    /// The same, pausing at most `max`.
    pub const fn with_max(mut self, max: Duration) -> Self {
        self.max = max;
        self
    }

    /// The pause after the `failures`-th failure (1 for the first).
    pub(crate) fn pause_after(&self, failures: u32) -> Duration {
        crate::backoff::Backoff::new(self.first, self.max).after(failures)
    }
}

impl Default for Retries {
    /// 5 tries, pausing 1 s, 2 s, 4 s and 8 s.
    fn default() -> Self {
        Retries::new(5, Duration::from_secs(1))
    }
}

/// Options of a [`SagaRunner`](super::SagaRunner).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SagaOptions {
    /// Instances run at once (each instance always on one worker at a time).
    pub workers: usize,
    /// How steps are retried before the saga compensates.
    pub step_retries: Retries,
    /// How compensations are retried before the saga waits for an operator.
    pub compensation_retries: Retries,
    /// Events read from the log at a time.
    pub batch_size: usize,
    /// How often the runner looks for instances whose time has come (deadlines, retries,
    /// operators' actions), and for new events when the store cannot announce them.
    pub poll_interval: Duration,
}

impl Default for SagaOptions {
    fn default() -> Self {
        SagaOptions {
            workers: 8,
            step_retries: Retries::default(),
            compensation_retries: Retries::default(),
            batch_size: 256,
            poll_interval: Duration::from_millis(500),
        }
    }
}

impl SagaOptions {
    /// Runs `workers` instances at once (at least 1).
    pub fn with_workers(mut self, workers: usize) -> Self {
        self.workers = workers.max(1);
        self
    }

    /// Retries steps so.
    pub fn with_step_retries(mut self, retries: Retries) -> Self {
        self.step_retries = retries;
        self
    }

    /// Retries compensations so.
    pub fn with_compensation_retries(mut self, retries: Retries) -> Self {
        self.compensation_retries = retries;
        self
    }

    /// Reads `events` at a time (at least 1).
    pub fn with_batch_size(mut self, events: usize) -> Self {
        self.batch_size = events.max(1);
        self
    }

    /// Looks for due instances (and polls for events) this often.
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }
}
