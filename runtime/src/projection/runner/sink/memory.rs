//! The read model in memory: applied event by event under the lock that also holds the
//! checkpoint, so each event is applied exactly once. A handler that panics part-way leaves
//! no trace: the model is rebuilt from empty up to the event before it.

use std::ops::ControlFlow;

use super::{Failed, Progress, Projected, Sink, project_event, read_failure};
use crate::projection::Projection;
use crate::projection::runner::ProjectionFailure;
use crate::projection::runner::shared::Shared;
use crate::store::{EventFilter, EventStore, RecordedEvent, StoreError};

pub(in crate::projection::runner) struct MemorySink;

#[async_trait::async_trait]
impl<P: Projection + Default> Sink<P> for MemorySink {
    async fn rebuild(&self, shared: &Shared<P>, rebuilt: P) -> Result<(), (StoreError, P)> {
        shared.restart(rebuilt);
        Ok(())
    }

    /// Applies each event as the store hands it over, borrowed: no copy of a record (the
    /// in-memory store's own records), and the checkpoint moves with each event.
    async fn read_apply<S: EventStore>(
        &self,
        store: &S,
        shared: &Shared<P>,
        after: u64,
        batch_size: usize,
        filter: &EventFilter,
    ) -> Result<Progress, ProjectionFailure> {
        let (read, stopped_at) = apply(store, shared, after, batch_size, filter, None).await;
        match (read, stopped_at) {
            (_, Some(failed)) if failed.partial => {
                // The model holds part of the event: start again from empty, up to the
                // event before it, so readers see a whole state while the runner waits.
                let position = failed.failure.position.unwrap_or(u64::MAX);
                replay_before(store, shared, batch_size, filter, position).await?;
                Err(failed.failure)
            }
            (_, Some(failed)) => Err(failed.failure),
            (Ok(read), None) => Ok(Progress::after(read, batch_size)),
            (Err(error), None) => {
                // A row that does not read, which the operator asked to skip: step over it.
                match error.position() {
                    Some(position) if shared.skips(position) => {
                        let cursor = shared.tracked().checkpoint;
                        shared.if_at(cursor, |tracked| tracked.checkpoint = position);
                        Ok(Progress::More)
                    }
                    _ => Err(read_failure::<P>(error)),
                }
            }
        }
    }
}

/// Reads a batch after `after` and applies it event by event, up to the first that fails
/// or, when `until` is given, up to the event at that position (excluded). Returns what the
/// store read, and the failure that stopped the batch.
async fn apply<S: EventStore, P: Projection>(
    store: &S,
    shared: &Shared<P>,
    after: u64,
    batch_size: usize,
    filter: &EventFilter,
    until: Option<u64>,
) -> (Result<usize, StoreError>, Option<Failed>) {
    let mut cursor = after;
    let mut stopped_at = None;
    let mut visitor = |recorded: &RecordedEvent| {
        if until == Some(recorded.position) {
            return ControlFlow::Break(());
        }
        // `None`: rebuilt meanwhile, the rest of the batch is the old model's.
        let applied = shared.if_at(cursor, |tracked| {
            let projected = project_event(shared, &mut tracked.projection, recorded)?;
            tracked.checkpoint = recorded.position;
            if let Projected::Applied = projected {
                tracked.handled += 1;
            }
            Ok(())
        });
        match applied {
            Some(Ok(())) => {
                cursor = recorded.position;
                ControlFlow::Continue(())
            }
            Some(Err(failed)) => {
                stopped_at = Some(failed);
                ControlFlow::Break(())
            }
            None => ControlFlow::Break(()),
        }
    };
    let read = store
        .visit_all(after, batch_size, filter, &mut visitor)
        .await;
    (read, stopped_at)
}

/// Starts the model again from empty and applies the log up to the event at `position`
/// (excluded): undoes what a handler that panicked part-way left behind.
async fn replay_before<S: EventStore, P: Projection + Default>(
    store: &S,
    shared: &Shared<P>,
    batch_size: usize,
    filter: &EventFilter,
    position: u64,
) -> Result<(), ProjectionFailure> {
    tracing::warn!(
        projection = P::NAME,
        position,
        "a handler panicked part-way: rebuilding the read model up to the event before it"
    );
    shared.restart(P::default());
    loop {
        let after = shared.tracked().checkpoint;
        let (read, stopped_at) =
            apply(store, shared, after, batch_size, filter, Some(position)).await;
        if let Some(failed) = stopped_at {
            return Err(failed.failure);
        }
        let read = read.map_err(read_failure::<P>)?;
        let reached = shared.tracked().checkpoint;
        if read < batch_size || reached == after {
            return Ok(());
        }
    }
}
