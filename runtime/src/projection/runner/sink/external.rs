//! A read model in a store of its own: delivered at least once, deduplicated by its inbox.
//! A batch is applied to a copy of the read model, flushed whole; a handler that panics
//! part-way leaves no trace (the copy is dropped, and the events before it applied again to
//! a fresh one).

use std::ops::ControlFlow;

use super::{Progress, Projected, Sink, project_event, read_failure, store_failure};
use crate::projection::runner::ProjectionFailure;
use crate::projection::runner::shared::Shared;
use crate::projection::{ExternalProjection, ReadModelError};
use crate::store::{CheckpointStore, EventFilter, EventStore, RecordedEvent, StoreError};

pub(in crate::projection::runner) struct ExternalSink<T>(pub(in crate::projection::runner) T);

#[async_trait::async_trait]
impl<P: ExternalProjection, T: CheckpointStore> Sink<P> for ExternalSink<T> {
    async fn rebuild(&self, shared: &Shared<P>, rebuilt: P) -> Result<(), (StoreError, P)> {
        // The read model's own store is the user's to empty; the checkpoint starts again.
        let from = shared.tracked().checkpoint;
        match self.0.move_checkpoint(&P::checkpoint_key(), from, 0).await {
            Ok(_) => {
                shared.restart(rebuilt);
                Ok(())
            }
            Err(error) => Err((error, rebuilt)),
        }
    }

    /// Reads the batch whole (the read model's inbox is asked about all its ids at once),
    /// then applies it.
    async fn read_apply<S: EventStore>(
        &self,
        store: &S,
        shared: &Shared<P>,
        after: u64,
        batch_size: usize,
        filter: &EventFilter,
    ) -> Result<Progress, ProjectionFailure> {
        let mut events = Vec::new();
        let read = store
            .visit_all(after, batch_size, filter, &mut |event| {
                events.push(event.clone());
                ControlFlow::Continue(())
            })
            .await;
        let (progress, tail) = match read {
            Ok(read) => (Progress::after(read, batch_size), None),
            // A row that does not read: the events before it are applied; the checkpoint
            // steps over it when the operator asked to skip it.
            Err(error) => match error.position() {
                Some(position) if shared.skips(position) => (Progress::More, Some(Ok(position))),
                _ => (Progress::More, Some(Err(read_failure::<P>(error)))),
            },
        };
        let through = self.apply(shared, after, &events).await?;
        match tail {
            Some(Ok(position)) => {
                self.move_checkpoint(shared, through, position).await?;
                Ok(progress)
            }
            Some(Err(failure)) => Err(failure),
            None => Ok(progress),
        }
    }
}

impl<T: CheckpointStore> ExternalSink<T> {
    /// Applies `events`, read after `after`, skipping those in the read model's inbox, and
    /// moves the checkpoint with them; returns the checkpoint it reached.
    async fn apply<P: ExternalProjection>(
        &self,
        shared: &Shared<P>,
        after: u64,
        events: &[RecordedEvent],
    ) -> Result<u64, ProjectionFailure> {
        let read_model = |error: ReadModelError| {
            store_failure::<P>(format!("the read model's store failed: {error}"))
        };
        // `None`: rebuilt meanwhile, the batch belongs to the old read model.
        let Some(committed) = shared.if_at(after, |tracked| tracked.projection.clone()) else {
            return Ok(after);
        };
        let ids: Vec<uuid::Uuid> = events.iter().map(|e| e.event_id).collect();
        let processed = committed.processed(&ids).await.map_err(read_model)?;
        let mut projection = committed.clone();
        let (mut through, mut delivered, mut stopped_at) = (0usize, Vec::new(), None);
        for event in events {
            if !processed.contains(&event.event_id) {
                match project_event(shared, &mut projection, event) {
                    // A skipped event goes in the inbox too: a replay does not deliver it.
                    Ok(Projected::Applied | Projected::Skipped) => delivered.push(event.event_id),
                    Err(failed) => {
                        if failed.partial {
                            // The copy holds part of the event: a fresh copy, with the
                            // events before it.
                            projection =
                                reapply(shared, &committed, &events[..through], &processed)?;
                        }
                        stopped_at = Some(failed.failure);
                        break;
                    }
                }
            }
            through += 1;
        }
        let Some(last) = through.checked_sub(1) else {
            return stopped_at.map_or(Ok(after), Err);
        };
        projection.flush(&delivered).await.map_err(read_model)?;
        let to = events[last].position;
        // Moved by another runner, or not: the read model holds the batch (its inbox says
        // so), so a replay skips it.
        self.0
            .move_checkpoint(&P::checkpoint_key(), after, to)
            .await
            .map_err(store_failure::<P>)?;
        shared.if_at(after, |tracked| {
            tracked.projection = projection;
            tracked.checkpoint = to;
            tracked.handled += delivered.len() as u64;
        });
        stopped_at.map_or(Ok(to), Err)
    }

    /// Moves the checkpoint from `from` to `to` over an event that is not applied.
    async fn move_checkpoint<P: ExternalProjection>(
        &self,
        shared: &Shared<P>,
        from: u64,
        to: u64,
    ) -> Result<(), ProjectionFailure> {
        self.0
            .move_checkpoint(&P::checkpoint_key(), from, to)
            .await
            .map_err(store_failure::<P>)?;
        shared.if_at(from, |tracked| tracked.checkpoint = to);
        Ok(())
    }
}

/// A fresh copy of `committed` with `events` applied (those not in the inbox): what a batch
/// holds before an event whose handler panicked part-way.
fn reapply<P: ExternalProjection>(
    shared: &Shared<P>,
    committed: &P,
    events: &[RecordedEvent],
    processed: &std::collections::HashSet<uuid::Uuid>,
) -> Result<P, ProjectionFailure> {
    let mut projection = committed.clone();
    for event in events.iter().filter(|e| !processed.contains(&e.event_id)) {
        project_event(shared, &mut projection, event).map_err(|failed| failed.failure)?;
    }
    Ok(projection)
}
