//! Where a projection's batches go: its read model in memory, in SQL tables of the store's
//! database, or in a store of its own.

mod external;
mod memory;
mod sql;

use crate::caught::panic_message;
use crate::projection::Projection;
use crate::store::{EventFilter, EventStore, RecordedEvent, StoreError};

pub(super) use self::external::ExternalSink;
pub(super) use self::memory::MemorySink;
pub(super) use self::sql::SqlSink;
use super::ProjectionFailure;
use super::shared::Shared;

/// A read model's home, as the runner's task drives it.
#[async_trait::async_trait]
pub(super) trait Sink<P>: Send + Sync + 'static {
    /// Starts the read model again from `rebuilt`, at checkpoint 0; hands `rebuilt` back
    /// when it could not.
    async fn rebuild(&self, shared: &Shared<P>, rebuilt: P) -> Result<(), (StoreError, P)>;

    /// Reads a batch after `after` and applies it, moving the checkpoint with it; says
    /// whether the log may hold more.
    async fn read_apply<S: EventStore>(
        &self,
        store: &S,
        shared: &Shared<P>,
        after: u64,
        batch_size: usize,
        filter: &EventFilter,
    ) -> Result<Progress, ProjectionFailure>
    where
        P: Projection;
}

/// Where a read left the projection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Progress {
    /// The read came back full, or stepped over a row: read again at once.
    More,
    /// The read came back short: the projection has caught up.
    CaughtUp,
}

impl Progress {
    /// After a read of `read` events in batches of `batch_size`.
    fn after(read: usize, batch_size: usize) -> Self {
        if read < batch_size {
            Progress::CaughtUp
        } else {
            Progress::More
        }
    }
}

/// How one event went into a read model.
enum Projected {
    /// Its handler ran.
    Applied,
    /// The operator asked to skip it: its handler did not run.
    Skipped,
}

/// An event that did not go into a read model.
struct Failed {
    failure: ProjectionFailure,
    /// Whether its handler panicked part-way: the read model may hold part of the event.
    partial: bool,
}

/// Projects one event into `projection`, unless the operator asked to skip it. A failure
/// (the event does not decode, the handler panics) names the event.
fn project_event<P: Projection>(
    shared: &Shared<P>,
    projection: &mut P,
    recorded: &RecordedEvent,
) -> Result<Projected, Failed> {
    if shared.skips(recorded.position) {
        tracing::warn!(
            projection = P::NAME,
            position = recorded.position,
            "skipping an event, as an operator asked"
        );
        return Ok(Projected::Skipped);
    }
    let span = tracing::debug_span!(
        "annals.projection.event",
        projection = P::NAME,
        position = recorded.position,
        stream_id = %recorded.stream_id,
        event_type = %recorded.event_type,
    );
    let _entered = span.enter();
    // A panicking handler is a failure of this projection, not of its task: without this
    // the runner would die and its readers wait forever. The read model may then hold part
    // of the event: each sink undoes it.
    let projected = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        projection.project_recorded(recorded)
    }));
    let (message, partial) = match projected {
        Ok(Ok(())) => return Ok(Projected::Applied),
        Ok(Err(error)) => (error.to_string(), false),
        Err(panic) => (
            format!("the handler panicked: {}", panic_message(&panic)),
            true,
        ),
    };
    let event = (
        recorded.position,
        recorded.stream_id.clone(),
        recorded.event_type.clone(),
    );
    Err(Failed {
        failure: ProjectionFailure::new(P::NAME, Some(event), message),
        partial,
    })
}

/// A failure of the store or of the read model's own store: no event to name.
fn store_failure<P: Projection>(message: impl std::fmt::Display) -> ProjectionFailure {
    ProjectionFailure::new(P::NAME, None, message.to_string())
}

/// A failed read of the log: a row that does not read names its position (an operator can
/// skip it); anything else is the store's failure.
fn read_failure<P: Projection>(error: StoreError) -> ProjectionFailure {
    match &error {
        StoreError::CorruptEvent {
            position: Some(position),
            ..
        } => ProjectionFailure::at(P::NAME, *position, error.to_string()),
        _ => store_failure::<P>(error),
    }
}
