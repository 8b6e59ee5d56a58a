//! The read model in SQL tables: each batch's statements and the checkpoint commit in one
//! transaction of the store's database, so each event is applied exactly once. A failing
//! event leaves no statement behind, and a batch the database refuses is committed event by
//! event to find the event it refuses, so the failure names it and an operator can skip it.

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};

use super::{Progress, Projected, Sink, project_event, read_failure, store_failure};
use crate::projection::SqlProjection;
use crate::projection::runner::ProjectionFailure;
use crate::projection::runner::shared::Shared;
use crate::store::{EventFilter, EventStore, RecordedEvent, SqlStatement, SqlTarget, StoreError};

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
    ) -> Result<Progress, ProjectionFailure> {
        let mut batch = SqlBatch::new(after);
        let read = store
            .visit_all(after, batch_size, filter, &mut |event| {
                batch.project(shared, event)
            })
            .await;
        let progress = match read {
            Ok(read) => Progress::after(read, batch_size),
            Err(error) => match error.position() {
                // A row that does not read, which the operator asked to skip: the events
                // before it commit, and the checkpoint steps over it.
                Some(position) if shared.skips(position) => {
                    batch.step_over(position);
                    Progress::More
                }
                _ => {
                    // The events before it commit; the failure names the row.
                    batch.stop(read_failure::<P>(error));
                    Progress::More
                }
            },
        };
        self.commit(shared, batch).await?;
        if progress == Progress::CaughtUp {
            self.publish::<P>().await?;
        }
        Ok(progress)
    }
}

/// One event of a batch: where it is, and where its statements end in the writer.
struct ProjectedEvent {
    position: u64,
    stream_id: String,
    event_type: String,
    statements_end: usize,
}

/// The events of one SQL batch projected so far: their statements wait in the projection's
/// writer until the batch commits.
struct SqlBatch {
    /// The checkpoint the batch was read after.
    after: u64,
    events: Vec<ProjectedEvent>,
    /// The position the checkpoint moves to: the last event projected or stepped over.
    last: u64,
    stopped_at: Option<ProjectionFailure>,
}

impl SqlBatch {
    fn new(after: u64) -> Self {
        SqlBatch {
            after,
            events: Vec::new(),
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
            let writer = tracked.projection.writer();
            let written = writer.len();
            let projected = project_event(shared, &mut tracked.projection, event);
            let writer = tracked.projection.writer();
            if projected.is_err() {
                writer.truncate(written);
            }
            projected.map(|projected| (projected, writer.len()))
        });
        match projected {
            Some(Ok((projected, statements_end))) => {
                if let Projected::Applied = projected {
                    self.events.push(ProjectedEvent {
                        position: event.position,
                        stream_id: event.stream_id.clone(),
                        event_type: event.event_type.clone(),
                        statements_end,
                    });
                }
                self.last = event.position;
                ControlFlow::Continue(())
            }
            Some(Err(failed)) => {
                self.stopped_at = Some(failed.failure);
                ControlFlow::Break(())
            }
            None => ControlFlow::Break(()),
        }
    }

    /// The row at `position` is stepped over: the checkpoint moves past it.
    fn step_over(&mut self, position: u64) {
        self.last = position;
    }

    /// The batch ends with `failure`: what was projected before commits.
    fn stop(&mut self, failure: ProjectionFailure) {
        self.stopped_at.get_or_insert(failure);
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
    /// reports the failure that ended the batch, if one did.
    async fn commit<P: SqlProjection>(
        &self,
        shared: &Shared<P>,
        batch: SqlBatch,
    ) -> Result<(), ProjectionFailure> {
        let SqlBatch {
            after,
            events,
            last: to,
            stopped_at,
        } = batch;
        // `None`: rebuilt meanwhile, the batch belonged to the old read model.
        let Some(statements) = shared.if_at(after, |tracked| tracked.projection.writer().take())
        else {
            return Ok(());
        };
        if to == after {
            return stopped_at.map_or(Ok(()), Err);
        }
        let key = P::checkpoint_key();
        match self
            .target
            .commit_projection(&key, after, to, statements.clone())
            .await
        {
            Ok(true) => {
                shared.if_at(after, |tracked| {
                    tracked.checkpoint = to;
                    tracked.handled += events.len() as u64;
                });
            }
            Ok(false) => return self.follow::<P>(shared, after).await,
            // The database refused a statement: find the event it refuses.
            Err(error) if !error.is_transient() && !events.is_empty() => {
                return self
                    .commit_one_by_one::<P>(shared, after, &events, statements, error)
                    .await;
            }
            Err(error) => return Err(store_failure::<P>(error)),
        }
        stopped_at.map_or(Ok(()), Err)
    }

    /// Another runner of this projection committed first: carry on from where it got to
    /// (its commit holds these events already; nothing was written here).
    async fn follow<P: SqlProjection>(
        &self,
        shared: &Shared<P>,
        after: u64,
    ) -> Result<(), ProjectionFailure> {
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
        shared.unverify();
        Ok(())
    }

    /// The batch's commit was refused: commits its events one at a time, each with its
    /// checkpoint, up to the one the database refuses, and names that one.
    async fn commit_one_by_one<P: SqlProjection>(
        &self,
        shared: &Shared<P>,
        after: u64,
        events: &[ProjectedEvent],
        statements: Vec<SqlStatement>,
        refusal: StoreError,
    ) -> Result<(), ProjectionFailure> {
        let key = P::checkpoint_key();
        let (mut from, mut start) = (after, 0);
        for event in events {
            let own = statements[start..event.statements_end].to_vec();
            start = event.statements_end;
            match self
                .target
                .commit_projection(&key, from, event.position, own)
                .await
            {
                Ok(true) => {
                    let committed = shared.if_at(from, |tracked| {
                        tracked.checkpoint = event.position;
                        tracked.handled += 1;
                    });
                    if committed.is_none() {
                        return Ok(());
                    }
                    from = event.position;
                }
                Ok(false) => return self.follow::<P>(shared, from).await,
                Err(error) if error.is_transient() => return Err(store_failure::<P>(error)),
                Err(error) => {
                    let failure = (
                        event.position,
                        event.stream_id.clone(),
                        event.event_type.clone(),
                    );
                    let message = format!("the database refused its statements: {error}");
                    return Err(ProjectionFailure::new(P::NAME, Some(failure), message));
                }
            }
        }
        // Each alone commits: the batch failed for a reason of its own.
        Err(store_failure::<P>(refusal))
    }
}
