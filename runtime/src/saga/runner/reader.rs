//! The reader: hands the consumed events after the checkpoint to their instances'
//! workers, and moves the checkpoint over those handled, in the store's order.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use tokio::sync::mpsc;

use super::worker::Job;
use super::{SagaRunnerStatus, Shared, Workers};
use crate::backoff::Backoff;
use crate::saga::{Saga, SagaOptions};
use crate::store::{
    CheckpointStore, EventFilter, EventStore, RecordedEvent, StoreError, head_changed,
};

pub(super) struct Reader<S, St> {
    store: St,
    options: SagaOptions,
    workers: Workers,
    shared: Arc<Shared>,
    done: mpsc::UnboundedReceiver<u64>,
    filter: EventFilter,
    /// The checkpoint as stored.
    saved: u64,
    /// The positions read and not yet handled, in the store's order, and those handled
    /// out of order.
    pending: VecDeque<u64>,
    finished: HashSet<u64>,
    /// Read up to here.
    read: u64,
    /// Handled up to here.
    handled: u64,
    _saga: std::marker::PhantomData<fn() -> S>,
}

/// Events in the workers' hands at most, beyond which the reader waits.
const MAX_PENDING: usize = 4096;

impl<S: Saga, St: EventStore + CheckpointStore + Clone> Reader<S, St> {
    pub(super) fn new(
        store: St,
        options: SagaOptions,
        workers: Workers,
        shared: Arc<Shared>,
        done: mpsc::UnboundedReceiver<u64>,
    ) -> Self {
        Reader {
            store,
            options,
            workers,
            shared,
            done,
            filter: EventFilter::types(S::event_types()),
            saved: 0,
            pending: VecDeque::new(),
            finished: HashSet::new(),
            read: 0,
            handled: 0,
            _saga: std::marker::PhantomData,
        }
    }

    fn checkpoint_key() -> String {
        format!("saga:{}", S::NAME)
    }

    pub(super) async fn run(mut self) {
        let mut stop = self.shared.stop.subscribe();
        let mut notifications = self.store.subscribe();
        let backoff = Backoff::new(
            std::time::Duration::from_millis(100),
            std::time::Duration::from_secs(30),
        );
        let mut failures = 0;
        loop {
            match self.store.checkpoint(&Self::checkpoint_key()).await {
                Ok(checkpoint) => {
                    (self.saved, self.read, self.handled) = (checkpoint, checkpoint, checkpoint);
                    self.shared.handled.send_replace(checkpoint);
                    break;
                }
                Err(error) => {
                    failures += 1;
                    self.retrying(&error, failures);
                    tokio::select! {
                        () = tokio::time::sleep(backoff.after(failures)) => {}
                        _ = stop.changed() => return,
                    }
                }
            }
        }
        self.shared.status.send_replace(SagaRunnerStatus::Running);
        failures = 0;
        loop {
            if *stop.borrow() {
                return;
            }
            while let Ok(position) = self.done.try_recv() {
                self.finish(position);
            }
            if let Err(error) = self.save().await {
                failures += 1;
                self.retrying(&error, failures);
            }
            let caught_up = if self.pending.len() < MAX_PENDING {
                match self.read_batch().await {
                    Ok(caught_up) => {
                        if failures > 0 {
                            failures = 0;
                            self.shared.status.send_replace(SagaRunnerStatus::Running);
                        }
                        caught_up
                    }
                    Err(error) => {
                        failures += 1;
                        match &error {
                            ReadError::Poison(recorded, message) => self.shared.input_failing(
                                S::NAME,
                                recorded,
                                message.clone(),
                                failures,
                            ),
                            _ => self.retrying(&error, failures),
                        }
                        tokio::select! {
                            () = self.shared.pause(backoff.after(failures)) => {}
                            _ = stop.changed() => return,
                        }
                        continue;
                    }
                }
            } else {
                true
            };
            if caught_up || self.pending.len() >= MAX_PENDING {
                tokio::select! {
                    () = head_changed(&mut notifications) => {
                        let wait = self.options.poll_interval.min(std::time::Duration::from_secs(1));
                        let _ = self.store.wait_for_visible_appends(wait).await;
                    }
                    Some(position) = self.done.recv() => self.finish(position),
                    () = tokio::time::sleep(self.options.poll_interval) => {}
                    _ = stop.changed() => return,
                }
            }
        }
    }

    fn retrying(&self, error: &dyn std::fmt::Display, attempts: u32) {
        tracing::warn!(saga = S::NAME, %error, attempts, "saga runner retrying");
        self.shared.status.send_replace(SagaRunnerStatus::Retrying {
            error: error.to_string(),
            attempts,
        });
    }

    /// Reads a batch and hands each consumed event to its worker; returns whether the log
    /// had no more.
    async fn read_batch(&mut self) -> Result<bool, ReadError> {
        let batch = self
            .store
            .read_all(self.read, self.options.batch_size, &self.filter)
            .await
            .map_err(ReadError::Store)?;
        let caught_up = batch.len() < self.options.batch_size;
        for recorded in batch {
            let position = recorded.position;
            let route = if self.shared.is_skipped(position) {
                None
            } else {
                match S::route(&recorded) {
                    Ok(route) => route,
                    Err(error) => {
                        return Err(ReadError::Poison(Box::new(recorded), error.to_string()));
                    }
                }
            };
            self.read = position;
            match route {
                Some(route) => {
                    self.pending.push_back(position);
                    let job = Job::Input {
                        position,
                        recorded: Box::new(recorded),
                        route,
                    };
                    if !self.workers.send(job).await {
                        return Err(ReadError::Stopped);
                    }
                }
                None => {
                    self.pending.push_back(position);
                    self.finish(position);
                }
            }
        }
        if self.pending.is_empty() {
            self.handled = self.read;
        }
        Ok(caught_up)
    }

    /// The event at `position` is handled: move over the handled prefix.
    fn finish(&mut self, position: u64) {
        self.finished.insert(position);
        while let Some(front) = self.pending.front() {
            if !self.finished.remove(front) {
                break;
            }
            self.handled = *front;
            self.pending.pop_front();
        }
    }

    /// Moves the checkpoint to what is handled.
    async fn save(&mut self) -> Result<(), StoreError> {
        if self.handled == self.saved {
            return Ok(());
        }
        let key = Self::checkpoint_key();
        if self
            .store
            .move_checkpoint(&key, self.saved, self.handled)
            .await?
        {
            self.saved = self.handled;
        } else {
            // Another runner of this saga moved it: both handle the events, and the
            // instances' streams make that harmless.
            self.saved = self.store.checkpoint(&key).await?;
        }
        self.shared.handled.send_replace(self.handled);
        Ok(())
    }
}

/// Why a read stopped.
#[derive(Debug, thiserror::Error)]
enum ReadError {
    #[error(transparent)]
    Store(StoreError),
    /// The event does not route.
    #[error("{1}")]
    Poison(Box<RecordedEvent>, String),
    #[error("the workers stopped")]
    Stopped,
}
