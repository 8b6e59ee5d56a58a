//! What a projection's task and its readers share: the read model with its checkpoint,
//! and the signals between them.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard};

use tokio::sync::{Notify, watch};

use super::Status;

/// The read model and the position of the last event it includes, changed together.
pub(super) struct Tracked<P> {
    pub(super) projection: P,
    /// The position of the last event handled.
    pub(super) checkpoint: u64,
    /// Events handled since the start.
    pub(super) handled: u64,
}

pub(super) struct Shared<P> {
    tracked: RwLock<Tracked<P>>,
    /// Reads started so far; each read gets the next number.
    pub(super) reads_started: AtomicU64,
    /// The number of the last read that came back short (caught up) and was applied.
    pub(super) caught_up: watch::Sender<u64>,
    pub(super) status: watch::Sender<Status>,
    pub(super) wake: Notify,
    pub(super) stop: watch::Sender<bool>,
    /// The event positions the operator asked to skip: never applied, on a replay either.
    skips: Mutex<BTreeSet<u64>>,
    /// Whether `skips` holds any, read on every event without the lock.
    any_skips: AtomicBool,
    /// A rebuild the operator asked for: the empty read model to start again from.
    pub(super) rebuild: std::sync::Mutex<Option<P>>,
    /// Whether the checkpoint is yet to be checked against the log's head: at the start,
    /// and after another runner moved it.
    unverified: AtomicBool,
    /// Why the projection cannot go on until it is rebuilt: a stored checkpoint that does
    /// not read, or that is past the log's head.
    blocked: Mutex<Option<String>>,
}

impl<P> Shared<P> {
    /// The state of a projection about to start with `projection` at `checkpoint`.
    pub(super) fn new(projection: P, checkpoint: u64) -> Arc<Self> {
        Arc::new(Shared {
            tracked: RwLock::new(Tracked {
                projection,
                checkpoint,
                handled: 0,
            }),
            reads_started: AtomicU64::new(0),
            caught_up: watch::channel(0).0,
            status: watch::channel(Status::Starting).0,
            wake: Notify::new(),
            stop: watch::channel(false).0,
            skips: Mutex::new(BTreeSet::new()),
            any_skips: AtomicBool::new(false),
            rebuild: std::sync::Mutex::new(None),
            unverified: AtomicBool::new(true),
            blocked: Mutex::new(None),
        })
    }

    /// Stops the projection until it is rebuilt, for `reason`.
    pub(super) fn block(&self, reason: String) {
        *self.blocked.lock().unwrap_or_else(PoisonError::into_inner) = Some(reason);
    }

    /// Why the projection cannot go on until it is rebuilt, if it cannot.
    pub(super) fn blocked(&self) -> Option<String> {
        self.blocked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// A rebuild started the read model again: nothing blocks it, nothing to check.
    pub(super) fn rebuilt(&self) {
        *self.blocked.lock().unwrap_or_else(PoisonError::into_inner) = None;
        self.unverified.store(false, Ordering::Release);
    }

    /// The checkpoint must be checked against the log's head before the next read.
    pub(super) fn unverify(&self) {
        self.unverified.store(true, Ordering::Release);
    }

    /// Whether the checkpoint is yet to be checked; the check is taken.
    pub(super) fn take_unverified(&self) -> bool {
        self.unverified.swap(false, Ordering::AcqRel)
    }

    /// Starts the read model again from `projection`, at checkpoint 0.
    pub(super) fn restart(&self, projection: P) {
        *self.tracked.write().unwrap_or_else(PoisonError::into_inner) = Tracked {
            projection,
            checkpoint: 0,
            handled: 0,
        };
    }

    /// The read model and its checkpoint, for reading.
    pub(super) fn tracked(&self) -> RwLockReadGuard<'_, Tracked<P>> {
        self.tracked.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `change` on the read model if its checkpoint is still `after`, the one a batch
    /// was read after; `None`, changing nothing, when a rebuild moved it meanwhile (the
    /// batch then belongs to the old read model, and is dropped).
    pub(super) fn if_at<R>(
        &self,
        after: u64,
        change: impl FnOnce(&mut Tracked<P>) -> R,
    ) -> Option<R> {
        let mut tracked = self.tracked.write().unwrap_or_else(PoisonError::into_inner);
        (tracked.checkpoint == after).then(|| change(&mut tracked))
    }

    /// Takes the rebuild an operator asked for, if any.
    pub(super) fn take_rebuild(&self) -> Option<P> {
        self.rebuild
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// Asks for a rebuild from `projection`; a rebuild asked for meanwhile wins unless
    /// `replace`.
    pub(super) fn ask_rebuild(&self, projection: P, replace: bool) {
        let mut pending = self.rebuild.lock().unwrap_or_else(PoisonError::into_inner);
        if replace || pending.is_none() {
            *pending = Some(projection);
        }
    }

    /// Records the operator's decision never to apply the event at `position`.
    pub(super) fn skip(&self, position: u64) {
        self.skips
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(position);
        self.any_skips.store(true, Ordering::Release);
    }

    /// Whether the operator asked to skip the event at `position`.
    pub(super) fn skips(&self, position: u64) -> bool {
        self.any_skips.load(Ordering::Acquire)
            && self
                .skips
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .contains(&position)
    }
}
