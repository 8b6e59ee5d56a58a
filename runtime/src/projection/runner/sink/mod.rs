//! Where a projection's batches go: its read model in memory, in SQL tables of the store's
//! database, or in a store of its own.

mod external;
mod memory;
mod sql;

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

    /// Reads a batch after `after` and applies it, moving the checkpoint with it; returns
    /// how many events were read.
    async fn read_apply<S: EventStore>(
        &self,
        store: &S,
        shared: &Shared<P>,
        after: u64,
        batch_size: usize,
        filter: &EventFilter,
    ) -> Result<usize, ProjectionFailure>
    where
        P: Projection;
}

/// Projects one event into `projection`. A failure (the event does not decode, the handler
/// panics) is skipped if the operator asked to skip this very event; otherwise it is
/// returned, naming the event.
fn project_event<P: Projection>(
    shared: &Shared<P>,
    projection: &mut P,
    recorded: &RecordedEvent,
) -> Result<(), ProjectionFailure> {
    let span = tracing::debug_span!(
        "annals.projection.event",
        projection = P::NAME,
        position = recorded.position,
        stream_id = %recorded.stream_id,
        event_type = %recorded.event_type,
    );
    let _entered = span.enter();
    // A panicking handler is a failure of this projection, not of its task: without this
    // the runner would die and its readers wait forever. The read model may hold part of
    // the event; the retry applies it again (fix the handler, then rebuild).
    let projected = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        projection
            .project_recorded(recorded)
            .map_err(|error| error.to_string())
    }))
    .unwrap_or_else(|panic| Err(format!("the handler panicked: {}", panic_message(&panic))));
    let Err(error) = projected else {
        return Ok(());
    };
    if shared.take_skip(recorded.position) {
        tracing::warn!(
            projection = P::NAME,
            position = recorded.position,
            "skipping an event, as an operator asked"
        );
        return Ok(());
    }
    let event = (
        recorded.position,
        recorded.stream_id.clone(),
        recorded.event_type.clone(),
    );
    Err(ProjectionFailure::new(P::NAME, Some(event), error))
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

/// A failure of the store or of the read model's own store: no event to name.
fn store_failure<P: Projection>(message: impl std::fmt::Display) -> ProjectionFailure {
    ProjectionFailure::new(P::NAME, None, message.to_string())
}
