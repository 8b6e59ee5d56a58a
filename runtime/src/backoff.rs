//! Exponential backoff: the pause before the next attempt after failures in a row, doubled
//! after each, capped. What projection runners, relays and consumers wait between tries.

use std::time::Duration;

/// From `initial`, doubled per failure, at most `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Backoff {
    pub(crate) initial: Duration,
    pub(crate) max: Duration,
}

impl Backoff {
    pub(crate) const fn new(initial: Duration, max: Duration) -> Self {
        Backoff { initial, max }
    }

    /// The pause after `failures` failures in a row (the first waits `initial`).
    pub(crate) fn after(&self, failures: u32) -> Duration {
        self.initial
            .saturating_mul(1 << failures.saturating_sub(1).min(16))
            .min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_from_the_initial_pause_up_to_the_cap() {
        let backoff = Backoff::new(Duration::from_millis(10), Duration::from_millis(70));
        let pauses: Vec<u128> = (1..=5).map(|n| backoff.after(n).as_millis()).collect();
        assert_eq!(pauses, [10, 20, 40, 70, 70]);
    }
}
