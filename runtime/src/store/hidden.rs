//! Appends readers cannot see yet: what a projection waits for when a transaction left
//! open anywhere on the server holds the log's readers back (PostgreSQL).

use std::time::Duration;

/// Committed appends that readers of the log cannot see yet: on PostgreSQL, events whose
/// transaction started after one that is still open (readers see the log only below the
/// oldest running transaction, so that no event can commit behind them). Every projection,
/// and every read-your-writes wait, waits until that transaction ends.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HiddenAppends {
    /// How many committed events wait.
    pub events: u64,
    /// The open transaction they wait for, as the server describes it (backend, user,
    /// state, its current or last statement), or why it could not be found.
    pub held_by: String,
    /// How long that transaction has been open, when the server says.
    pub open_for: Option<Duration>,
}

impl HiddenAppends {
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) fn new(events: u64, held_by: String, open_for: Option<Duration>) -> Self {
        HiddenAppends {
            events,
            held_by,
            open_for,
        }
    }
}

impl std::fmt::Display for HiddenAppends {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} appended event(s) hidden from readers by an open transaction",
            self.events
        )?;
        if let Some(open_for) = self.open_for {
            write!(f, " (open for {:.1} s)", open_for.as_secs_f64())?;
        }
        write!(f, ": {}", self.held_by)
    }
}
