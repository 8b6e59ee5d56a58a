//! How a consumer retries.

use std::time::Duration;

/// How a consumer retries a message whose handler fails.
///
/// ```
/// use std::time::Duration;
/// use annals::messaging::ConsumerOptions;
///
/// let options = ConsumerOptions::default()
///     .with_max_deliveries(3)
///     .with_backoff(Duration::from_millis(100), Duration::from_secs(5));
/// assert_eq!(options.max_deliveries(), 3);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConsumerOptions {
    pub(super) max_deliveries: u32,
    pub(super) initial_backoff: Duration,
    pub(super) max_backoff: Duration,
}

impl Default for ConsumerOptions {
    /// 5 deliveries; redelivery after 1 s, doubled each time, at most 60 s.
    fn default() -> Self {
        ConsumerOptions {
            max_deliveries: 5,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
        }
    }
}

impl ConsumerOptions {
    /// Deliveries of one message at most (at least 1): a message whose handler fails at
    /// its last delivery is given up.
    pub fn with_max_deliveries(mut self, deliveries: u32) -> Self {
        self.max_deliveries = deliveries.max(1);
        self
    }

    /// The delay before the second delivery (doubled for each further one), and the
    /// longest.
    pub fn with_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max;
        self
    }

    /// Deliveries of one message at most.
    pub fn max_deliveries(&self) -> u32 {
        self.max_deliveries
    }

    /// The delay before delivery `delivery + 1`.
    pub(super) fn delay_after(&self, delivery: u32) -> Duration {
        self.initial_backoff
            .saturating_mul(1 << delivery.saturating_sub(1).min(16))
            .min(self.max_backoff)
    }
}
