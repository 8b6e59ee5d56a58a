//! A read model in a store of its own: delivered at least once, deduplicated by its inbox.

use super::{Sink, project_event, store_failure};
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
    ) -> Result<usize, ProjectionFailure> {
        let events = store
            .read_all(after, batch_size, filter)
            .await
            .map_err(store_failure::<P>)?;
        self.apply(shared, after, &events)
            .await
            .map(|()| events.len())
    }
}

impl<T: CheckpointStore> ExternalSink<T> {
    /// Applies `events`, read after `after`, skipping those in the read model's inbox, and
    /// moves the checkpoint with them.
    async fn apply<P: ExternalProjection>(
        &self,
        shared: &Shared<P>,
        after: u64,
        events: &[RecordedEvent],
    ) -> Result<(), ProjectionFailure> {
        let read_model = |error: ReadModelError| {
            store_failure::<P>(format!("the read model's store failed: {error}"))
        };
        // `None`: rebuilt meanwhile, the batch belongs to the old read model.
        let Some(mut projection) = shared.if_at(after, |tracked| tracked.projection.clone()) else {
            return Ok(());
        };
        let ids: Vec<uuid::Uuid> = events.iter().map(|e| e.event_id).collect();
        let processed = projection.processed(&ids).await.map_err(read_model)?;
        let (mut through, mut delivered, mut stopped_at) = (0usize, Vec::new(), None);
        for event in events {
            if !processed.contains(&event.event_id) {
                if let Err(failure) = project_event(shared, &mut projection, event) {
                    stopped_at = Some(failure);
                    break;
                }
                delivered.push(event.event_id);
            }
            through += 1;
        }
        let Some(last) = through.checked_sub(1) else {
            return stopped_at.map_or(Ok(()), Err);
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
        stopped_at.map_or(Ok(()), Err)
    }
}
