//! What a projection is: a read model with handlers for the events it consumes.

use crate::event::EventDecodeError;
use crate::store::RecordedEvent;

use super::recorded::Recorded;

/// A read model fed from the global log. Implemented by `#[derive(Projection)]`.
///
/// # Attributes
///
/// `#[projection(...)]` on the read model's struct (or enum):
///
/// | key | meaning | default |
/// | --- | --- | --- |
/// | `events(E, F::{V1, V2})` | the event enums consumed: `E` whole (every variant needs a [`Project`] handler), `F` only for the variants listed (events of other variants are not read) | required |
/// | `name = "..."` | the projection's name, its checkpoint's key | the type's name in snake_case |
/// | `version = N` | the read model's version: a new version is a new read model, built from the start | 1 |
/// | `crate = "..."` | the path to annals, for crates that re-export it | `::annals` |
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a projection",
    label = "not a projection",
    note = "add `#[derive(annals::Projection)]` and `#[projection(name = \"...\", events(...))]` to `{Self}`"
)]
pub trait Projection: Send + Sync + 'static {
    /// The projection's name: its checkpoint's key.
    const NAME: &'static str;
    /// The projection's version. A new version is a new read model, built from the start.
    const VERSION: u32;

    /// The stored event type names the projection consumes (aliases included), in the
    /// order of `events(...)`. The runner reads only these from the store.
    fn event_types() -> Vec<&'static str>;

    /// The event enums consumed, each with the stored names read of it: the runner claims
    /// them in the store's [`Catalog`](crate::store::Catalog), so that no other enum's
    /// events are handed to this projection's handlers. `#[derive(Projection)]` writes it;
    /// none by default.
    #[doc(hidden)]
    fn consumed_enums() -> Vec<(crate::store::Owner, Vec<&'static str>)> {
        Vec::new()
    }

    /// Decodes `recorded` and hands it to its handler. An event of a type the projection
    /// does not consume is ignored.
    fn project_recorded(&mut self, recorded: &RecordedEvent) -> Result<(), EventDecodeError>;

    /// The key of this projection's checkpoint: `"{NAME}@v{VERSION}"`.
    fn checkpoint_key() -> String {
        format!("{}@v{}", Self::NAME, Self::VERSION)
    }
}

/// Projects one event payload type into a read model, with the event's envelope.
///
/// Write one impl per event the projection consumes; `#[derive(Projection)]` dispatches to
/// them.
#[diagnostic::on_unimplemented(
    message = "projection `{Self}` has no handler for event `{E}`",
    label = "`{E}` is not projected into `{Self}`",
    note = "add `impl annals::Project<{E}> for {Self} {{ fn project(&mut self, event: annals::Recorded<'_, {E}>) {{ /* update the read model */ }} }}`, or stop consuming `{E}` in `#[projection(events(...))]`"
)]
pub trait Project<E> {
    /// Updates the read model with one event and its envelope.
    fn project(&mut self, event: Recorded<'_, E>);
}
