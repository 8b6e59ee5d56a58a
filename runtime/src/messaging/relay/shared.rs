//! What a relay's task and its handle share.

use std::collections::BTreeSet;
use std::sync::{Mutex, PoisonError};

use tokio::sync::{Notify, watch};

use super::RelayStatus;

#[derive(Debug)]
pub(super) struct Shared {
    pub(super) publisher: &'static str,
    pub(super) status: watch::Sender<RelayStatus>,
    /// Published and acknowledged up to here.
    pub(super) published: watch::Sender<u64>,
    pub(super) stop: watch::Sender<bool>,
    /// Positions an operator asked to skip.
    skips: Mutex<BTreeSet<u64>>,
    /// Wakes a relay waiting out its backoff when an operator acts.
    pub(super) wake: Notify,
}

impl Shared {
    pub(super) fn new(publisher: &'static str, checkpoint: u64) -> Self {
        Shared {
            publisher,
            status: watch::Sender::new(RelayStatus::Starting),
            published: watch::Sender::new(checkpoint),
            stop: watch::Sender::new(false),
            skips: Mutex::default(),
            wake: Notify::new(),
        }
    }

    pub(super) fn skip(&self, position: u64) {
        self.skips
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(position);
        self.wake.notify_one();
    }

    /// Whether the operator asked to skip `position`.
    pub(super) fn skips(&self, position: u64) -> bool {
        self.skips
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&position)
    }
}
