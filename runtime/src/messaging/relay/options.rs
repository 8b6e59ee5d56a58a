//! How a relay reads, publishes and waits.

use std::time::Duration;

use crate::backoff::Backoff;

/// How a relay reads, publishes and waits.
///
/// ```
/// use std::time::Duration;
/// use annals::messaging::RelayOptions;
///
/// let options = RelayOptions::default()
///     .with_max_in_flight(2_000)
///     .with_backoff(Duration::from_millis(50), Duration::from_secs(10));
/// assert_eq!(options.max_in_flight(), 2_000);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RelayOptions {
    pub(super) batch_size: usize,
    pub(super) max_in_flight: usize,
    pub(super) poll_interval: Duration,
    pub(super) backoff: Backoff,
}

impl Default for RelayOptions {
    /// Reads of 1,000 events; up to 1,000 messages sent and not yet acknowledged; a poll
    /// every 250 ms; backoff from 100 ms to 30 s.
    fn default() -> Self {
        RelayOptions {
            batch_size: 1_000,
            max_in_flight: 1_000,
            poll_interval: Duration::from_millis(250),
            backoff: Backoff::new(Duration::from_millis(100), Duration::from_secs(30)),
        }
    }
}

impl RelayOptions {
    /// Events read from the log per round trip (at least 1).
    pub fn with_batch_size(mut self, events: usize) -> Self {
        self.batch_size = events.max(1);
        self
    }

    /// Messages sent to the broker and not yet acknowledged, at most (at least 1; 1 sends
    /// each message after the previous one's acknowledgement).
    pub fn with_max_in_flight(mut self, messages: usize) -> Self {
        self.max_in_flight = messages.max(1);
        self
    }

    /// How long a caught-up relay waits for a wake-up before it reads again anyway.
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

    /// Messages in flight, at most.
    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight
    }

    /// The pause after `failures` failures in a row.
    pub(super) fn backoff_after(&self, failures: u32) -> Duration {
        self.backoff.after(failures)
    }
}
