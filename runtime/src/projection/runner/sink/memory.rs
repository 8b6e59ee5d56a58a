//! The read model in memory: applied event by event under the lock that also holds the
//! checkpoint, so each event is applied exactly once.

use std::ops::ControlFlow;

use super::{Sink, project_event, store_failure};
use crate::projection::Projection;
use crate::projection::runner::ProjectionFailure;
use crate::projection::runner::shared::Shared;
use crate::store::{EventFilter, EventStore, RecordedEvent, StoreError};

pub(in crate::projection::runner) struct MemorySink;

#[async_trait::async_trait]
impl<P: Projection> Sink<P> for MemorySink {
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
    ) -> Result<usize, ProjectionFailure> {
        let mut cursor = after;
        let mut stopped_at = None;
        let mut visitor = |recorded: &RecordedEvent| {
            // `None`: rebuilt meanwhile, the rest of the batch is the old model's.
            let applied = shared.if_at(cursor, |tracked| {
                project_event(shared, &mut tracked.projection, recorded)?;
                tracked.checkpoint = recorded.position;
                tracked.handled += 1;
                Ok(())
            });
            match applied {
                Some(Ok(())) => {
                    cursor = recorded.position;
                    ControlFlow::Continue(())
                }
                Some(Err(failure)) => {
                    stopped_at = Some(failure);
                    ControlFlow::Break(())
                }
                None => ControlFlow::Break(()),
            }
        };
        let read = store
            .visit_all(after, batch_size, filter, &mut visitor)
            .await
            .map_err(store_failure::<P>)?;
        stopped_at.map_or(Ok(read), Err)
    }
}
