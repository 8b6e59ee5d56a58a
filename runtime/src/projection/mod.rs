//! Projections: read models fed from the global log, each from its own checkpoint.
//!
//! A projection is a plain struct with `#[derive(Projection)]`, which names the event
//! enums it consumes (whole enums, or some of their variants), its name and its version.
//! The derive generates the event-type filter (the runner reads only those types from the
//! store) and the dispatch of each recorded event to the struct's [`Project`] handlers,
//! which see the whole envelope: stream id, stream version, global position, timestamp,
//! metadata and the payload.
//!
//! ```
//! use std::collections::HashMap;
//! use annals::{Event, Project, Projection, Recorded};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
//! struct Deposited { amount: i64 }
//! #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
//! struct Withdrawn { amount: i64 }
//!
//! #[derive(Event, Clone, Debug, PartialEq)]
//! enum AccountEvent { Deposited(Deposited), Withdrawn(Withdrawn) }
//!
//! /// Only deposits: withdrawals are not even read from the store.
//! #[derive(Projection, Default)]
//! #[projection(name = "deposits", events(AccountEvent::{Deposited}))]
//! struct Deposits { by_account: HashMap<String, i64> }
//!
//! impl Project<Deposited> for Deposits {
//!     fn project(&mut self, deposit: Recorded<'_, Deposited>) {
//!         // The envelope's fields, and the payload's through `Deref`.
//!         *self.by_account.entry(deposit.stream_id.to_owned()).or_default() += deposit.amount;
//!     }
//! }
//!
//! assert_eq!(Deposits::NAME, "deposits");
//! assert_eq!(Deposits::event_types(), ["Deposited"]);
//! ```

pub mod external;
pub mod runner;
pub mod sql;

use std::ops::Deref;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::event::EventDecodeError;
use crate::store::{Metadata, RecordedEvent};

pub use runner::{
    Lag, ProjectionFailure, ProjectionHandle, ProjectionReader, ProjectionRunner, RunnerOptions,
    Status, WaitError,
};

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

/// Dispatch of every variant of an event family to [`Project`] handlers, with the envelope.
///
/// `#[derive(Event)]` implements `ProjectTo<P>` for every `P` that implements `Project` for
/// each payload type of the family; `#[derive(Projection)]` calls it for the enums it
/// consumes whole.
#[diagnostic::on_unimplemented(
    message = "projection `{P}` does not handle every event of `{Self}`",
    note = "`events(...)` must name enums with `#[derive(annals::Event)]`; `{P}` then needs `impl annals::Project<Payload>` for each variant of `{Self}`, or consumes only some variants: `events({Self}::{{VariantA, VariantB}})`"
)]
pub trait ProjectTo<P: ?Sized>: crate::Event {
    /// Projects this event, with the envelope of `recorded`, into `projection`.
    fn project_to(self, recorded: &RecordedEvent, projection: &mut P);
}

/// A decoded event with its envelope, borrowed from the recorded event: what a [`Project`]
/// handler sees. Dereferences to the payload, so `deposit.amount` reads the payload's field
/// and `deposit.stream_id` the envelope's (an envelope field wins over a payload field of
/// the same name; `deposit.event.position` always reads the payload).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Recorded<'a, E> {
    /// The event's global position.
    pub position: u64,
    /// The stream it belongs to.
    pub stream_id: &'a str,
    /// Its version in the stream.
    pub stream_version: u64,
    /// Its id.
    pub event_id: Uuid,
    /// The stored type name.
    pub event_type: &'a str,
    /// Correlation, causation and user key/values.
    pub metadata: &'a Metadata,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
    /// The payload, decoded (and upcast) to its current version.
    pub event: E,
}

impl<'a, E> Recorded<'a, E> {
    /// `event` with the envelope of `recorded`.
    pub fn new(recorded: &'a RecordedEvent, event: E) -> Self {
        Recorded {
            position: recorded.position,
            stream_id: &recorded.stream_id,
            stream_version: recorded.stream_version,
            event_id: recorded.event_id,
            event_type: &recorded.event_type,
            metadata: &recorded.metadata,
            recorded_at: recorded.recorded_at,
            event,
        }
    }
}

impl<E> Recorded<'_, E> {
    /// The id of the aggregate of kind `A` this event belongs to: the stream id without its
    /// `"{KIND}-"` prefix, or `None` when the stream is not one of `A`'s.
    ///
    /// ```
    /// # use annals::{Aggregate, Apply, Event, Recorded};
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
    /// # struct Opened {}
    /// # #[derive(Event, Clone, Debug, PartialEq)]
    /// # enum OrderEvent { Opened(Opened) }
    /// # #[derive(Debug, thiserror::Error)]
    /// # #[error("e")]
    /// # struct OrderError;
    /// # #[derive(Aggregate, Default)]
    /// # #[aggregate(event = OrderEvent, error = OrderError)]
    /// # struct Order {}
    /// # impl Apply<Opened> for Order { fn apply(&mut self, _: &Opened) {} }
    /// let recorded = annals::RecordedEvent {
    ///     position: 1,
    ///     stream_id: Order::stream_id("o-1"),
    ///     stream_version: 1,
    ///     event_id: annals::Uuid::nil(),
    ///     event_type: "Opened".into(),
    ///     schema_version: 1,
    ///     payload: b"{}".to_vec(),
    ///     metadata: Default::default(),
    ///     recorded_at: annals::Utc::now(),
    /// };
    /// let opened = Recorded::new(&recorded, Opened {});
    /// assert_eq!(opened.aggregate_id::<Order>(), Some("o-1"));
    /// ```
    pub fn aggregate_id<A: crate::Aggregate>(&self) -> Option<&str> {
        self.stream_id.strip_prefix(A::KIND)?.strip_prefix('-')
    }
}

impl<E> Deref for Recorded<'_, E> {
    type Target = E;

    fn deref(&self) -> &E {
        &self.event
    }
}
