//! The read model in SQL tables: each batch's statements and the checkpoint commit in one
//! transaction of the store's database, so each event is applied exactly once.

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};

use super::{Sink, project_event, store_failure};
use crate::projection::SqlProjection;
use crate::projection::runner::ProjectionFailure;
use crate::projection::runner::shared::Shared;
use crate::store::{EventFilter, EventStore, RecordedEvent, SqlTarget, StoreError};

pub(in crate::projection::runner) struct SqlSink<T> {
    target: T,
    /// Whether this version's views are published (it has caught up once).
    published: AtomicBool,
}

#[async_trait::async_trait]
impl<P: SqlProjection, T: SqlTarget> Sink<P> for SqlSink<T> {
    async fn rebuild(&self, shared: &Shared<P>, rebuilt: P) -> Result<(), (StoreError, P)> {
        match self
            .target
            .reset_projection(&P::checkpoint_key(), &P::reset())
            .await
        {
            Ok(()) => {
                shared.restart(rebuilt);
                Ok(())
            }
            Err(error) => Err((error, rebuilt)),
        }
    }

    /// Projects each event as the store hands it over (borrowed, no copy of a record),
    /// then commits the batch's statements with the checkpoint.
    async fn read_apply<S: EventStore>(
        &self,
        store: &S,
        shared: &Shared<P>,
        after: u64,
        batch_size: usize,
        filter: &EventFilter,
    ) -> Result<usize, ProjectionFailure> {
        let mut batch = SqlBatch::new(after);
        let read = store
            .visit_all(after, batch_size, filter, &mut |event| {
                batch.project(shared, event)
            })
            .await;
        match read {
            Ok(read) => {
                self.commit(shared, batch).await?;
                if read < batch_size {
                    self.publish::<P>().await?;
                }
                Ok(read)
            }
            Err(error) => {
                // Nothing of a batch that was not read whole is committed.
                batch.discard(shared);
                Err(store_failure::<P>(error))
            }
        }
    }
}

/// The events of one SQL batch projected so far: their statements wait in the projection's
/// writer until the batch commits.
struct SqlBatch {
    /// The checkpoint the batch was read after.
    after: u64,
    handled: usize,
    last: u64,
    stopped_at: Option<ProjectionFailure>,
}

impl SqlBatch {
    fn new(after: u64) -> Self {
        SqlBatch {
            after,
            handled: 0,
            last: after,
            stopped_at: None,
        }
    }

    /// Projects one event; breaks at a failing handler or when the read model was rebuilt
    /// meanwhile (the rest of the batch belongs to the old one).
    fn project<P: SqlProjection>(
        &mut self,
        shared: &Shared<P>,
        event: &RecordedEvent,
    ) -> ControlFlow<()> {
        let projected = shared.if_at(self.after, |tracked| {
            // Event by event, so the statements of an event whose handler failed part-way
            // are dropped, not committed with the events before it.
            let written = tracked.projection.writer().len();
            let projected = project_event(shared, &mut tracked.projection, event);
            if projected.is_err() {
                tracked.projection.writer().truncate(written);
            }
            projected
        });
        match projected {
            Some(Ok(())) => {
                self.handled += 1;
                self.last = event.position;
                ControlFlow::Continue(())
            }
            Some(Err(failure)) => {
                self.stopped_at = Some(failure);
                ControlFlow::Break(())
            }
            None => ControlFlow::Break(()),
        }
    }

    /// Drops the statements of the batch's events from the read model's writer.
    fn discard<P: SqlProjection>(self, shared: &Shared<P>) {
        shared.if_at(self.after, |tracked| tracked.projection.writer().take());
    }
}

impl<T: SqlTarget> SqlSink<T> {
    pub(in crate::projection::runner) fn new(target: T) -> Self {
        SqlSink {
            target,
            published: AtomicBool::new(false),
        }
    }

    /// Once this version has caught up: points the read model's views at its tables (unless
    /// a newer version has them).
    async fn publish<P: SqlProjection>(&self) -> Result<(), ProjectionFailure> {
        if self.published.load(Ordering::Acquire) {
            return Ok(());
        }
        let views: Vec<(String, String)> = P::views()
            .into_iter()
            .map(|base| (base.to_owned(), P::table(base)))
            .collect();
        let switched = self
            .target
            .publish_version(P::NAME, P::VERSION, &views)
            .await
            .map_err(|error| store_failure::<P>(format!("publishing the views failed: {error}")))?;
        if switched {
            tracing::info!(
                projection = P::NAME,
                version = P::VERSION,
                "caught up: readers switched to this version"
            );
        }
        self.published.store(true, Ordering::Release);
        Ok(())
    }

    /// Commits the batch's statements and moves the checkpoint in one transaction; then
    /// reports the handler failure that ended the batch, if one did.
    async fn commit<P: SqlProjection>(
        &self,
        shared: &Shared<P>,
        batch: SqlBatch,
    ) -> Result<(), ProjectionFailure> {
        let SqlBatch {
            after,
            handled,
            last: to,
            stopped_at,
        } = batch;
        // `None`: rebuilt meanwhile, the batch belonged to the old read model.
        let Some(statements) = shared.if_at(after, |tracked| tracked.projection.writer().take())
        else {
            return Ok(());
        };
        if handled > 0 {
            let committed = self
                .target
                .commit_projection(&P::checkpoint_key(), after, to, statements)
                .await
                .map_err(store_failure::<P>)?;
            if committed {
                shared.if_at(after, |tracked| {
                    tracked.checkpoint = to;
                    tracked.handled += handled as u64;
                });
            } else {
                // Another runner of this projection committed first: carry on from where it
                // got to (its commit holds these events already; nothing was written here).
                let stored = self
                    .target
                    .checkpoint(&P::checkpoint_key())
                    .await
                    .map_err(store_failure::<P>)?;
                tracing::info!(
                    projection = P::NAME,
                    stored,
                    "another runner moved the checkpoint; following it"
                );
                shared.if_at(after, |tracked| tracked.checkpoint = stored);
                return Ok(());
            }
        }
        stopped_at.map_or(Ok(()), Err)
    }
}
