//! How a consumer retries.

use std::time::Duration;

use crate::backoff::Backoff;

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
    pub(super) backoff: Backoff,
}

impl Default for ConsumerOptions {
    /// 5 deliveries; redelivery after 1 s, doubled each time, at most 60 s.
    fn default() -> Self {
        ConsumerOptions {
            max_deliveries: 5,
            backoff: Backoff::new(Duration::from_secs(1), Duration::from_secs(60)),
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
        self.backoff = Backoff::new(initial, max);
        self
    }

    /// Deliveries of one message at most.
    pub fn max_deliveries(&self) -> u32 {
        self.max_deliveries
    }

    /// The delay before delivery `delivery + 1`.
    pub(super) fn delay_after(&self, delivery: u32) -> Duration {
        self.backoff.after(delivery)
    }
}
