//! Sagas: process managers that coordinate several aggregates (and outside services)
//! through steps that each happen once in effect, undone in reverse order when a later
//! step fails.
//!
//! A saga is a plain struct (its state) with `#[derive(Saga)]`, naming the events that
//! start an instance, the events it reacts to and how an event finds its instance:
//!
//! - its reactions ([`React`], one impl per event payload) are pure: they change the state
//!   and fill a [`Plan`]: steps to perform (each with the compensation that undoes it),
//!   compensations to push, deadlines to set or cancel, completion or failure;
//! - its [`Steps`] impl says how a step is performed: a command sent through the
//!   [`CommandDispatcher`](crate::CommandDispatcher), or a call to an outside service,
//!   with the step's idempotency key ([`StepContext`]);
//! - a [`SagaRunner`] feeds it from the global log and performs its plans; the saga's own
//!   history (inputs, plans, step results, compensations, operator actions) is a stream of
//!   its own, `saga:{name}-{instance}`, so a crash resumes by replaying it;
//! - [`Sagas`] is the operators' view: instances, the intervention queue of stuck ones,
//!   and the actions that release them (retry, skip, resolve).
//!
//! # How an instance runs
//!
//! The plan's actions run in order. A step that succeeds pushes its compensation (if it
//! has one) and its output goes to [`Steps::on_done`]. A step the domain rejects, or one
//! that still fails after its retries ([`SagaOptions::with_step_retries`]), starts
//! compensation: the pushed compensations run last-pushed first, each retried with
//! exponential backoff ([`SagaOptions::with_compensation_retries`], by default 5 tries
//! from 1 s). A compensation that is rejected, or still fails, moves the instance to the
//! intervention queue ([`Sagas::stuck`]) until an operator retries it, skips it or
//! resolves the saga. A step without a compensation (a confirmation e-mail) is allowed: it
//! is simply not undone.
//!
//! Each step and compensation has a number in its instance; its idempotency key is
//! `"{saga}/{instance}/{number}"`. Commands sent through [`StepContext::execute`] use
//! [`Repository::execute_once`](crate::Repository::execute_once) with it, and outside
//! services receive it ([`StepContext::key`]), so a step performed again after a crash
//! (before its result was recorded) has no second effect.
//!
//! An event the saga consumes that finds no instance, and does not start one, is skipped.
//! An event that does not decode (or that the saga's reaction fails or panics on) is not:
//! the runner stops at it, says so in its status
//! ([`SagaRunnerStatus::Failing`]), and tries again after a pause until a release fixes
//! it or an operator skips it ([`SagaRunnerHandle::skip`]).
//! An event that starts an instance which exists already is handed to it like any other;
//! an event for an instance that is over (completed, compensated, resolved) is ignored.
//! Reactions must be deterministic (the state, the event and [`Plan::now`] only): an input
//! handled again after a crash must plan the same steps under the same numbers.

mod clock;
pub(crate) mod instance;
mod operator;
mod options;
mod plan;
pub(crate) mod record;
mod route;
mod runner;
mod steps;

use crate::event::EventDecodeError;
use crate::projection::recorded::Recorded;
use crate::store::RecordedEvent;

pub use self::clock::{Clock, ManualClock, SystemClock};
pub use self::instance::SagaStatus;
pub use self::operator::{OperatorError, SagaView, Sagas};
pub use self::options::{Retries, SagaOptions};
pub use self::plan::{Plan, PlannedStep};
pub use self::runner::{
    SagaInputFailure, SagaRunner, SagaRunnerHandle, SagaRunnerStatus, SagaWaitError,
};
pub use self::steps::{StepContext, StepError, StepOutput, Steps};

pub(crate) use self::instance::Instance;
pub use self::instance::InstanceError;

#[doc(hidden)]
pub use self::route::{RouteBy, Selected, route_event};
/// Derives [`Saga`](trait@Saga). See the trait for the attribute reference.
#[cfg(feature = "derive")]
pub use annals_macros::Saga;

/// A saga: the events it consumes, how each finds its instance, and the dispatch of each
/// to its [`React`] handler. Implemented by `#[derive(Saga)]`; the user writes [`React`]
/// and [`Steps`].
///
/// # Attributes
///
/// `#[saga(...)]` on the state's struct (which derives `Default`, `Serialize` and
/// `Deserialize`):
///
/// | key | meaning | default |
/// | --- | --- | --- |
/// | `starts(...)` | the events that start an instance: enums or some of their variants, as in `events` | required |
/// | `events(...)` | the other events it reacts to: `OrderEvent` for every variant, `PaymentEvent::{Charged, Declined}` for some | none |
/// | `id = field` | how an event finds its instance: the payload's field `field` (a string or a number, read from the payload as its current version stores it) | required, or `id = correlation` |
/// | `id = correlation` | the event's correlation id: every event of one business transaction belongs to one instance | |
/// | `name = "..."` | the saga's name: its streams, checkpoint and keys | the type's name in snake_case |
/// | `crate = "..."` | the path to annals, for crates that re-export it | `::annals` |
///
/// Every consumed variant needs `impl React<Payload> for ThisSaga`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a saga",
    label = "not a saga",
    note = "add `#[derive(annals::Saga)]` and `#[saga(starts(...), id = ...)]` to `{Self}`"
)]
pub trait Saga: Steps + Default + SagaState {
    /// The saga's name.
    const NAME: &'static str;

    /// Every stored event type it consumes (what it reads from the log).
    fn event_types() -> Vec<&'static str>;

    /// The consumed enums and the names each stores (for the store's catalog).
    #[doc(hidden)]
    fn consumed_enums() -> Vec<(crate::store::Owner, Vec<&'static str>)> {
        Vec::new()
    }

    /// The instance `recorded` belongs to, and whether it starts one; `None` for an event
    /// the saga does not consume, or one without the instance's id.
    fn route(recorded: &RecordedEvent) -> Result<Option<Route>, EventDecodeError>;

    /// Hands `recorded` to its [`React`] handler.
    fn react_recorded(
        &mut self,
        recorded: &RecordedEvent,
        plan: &mut Plan<Self::Step>,
    ) -> Result<(), EventDecodeError>;

    /// The stream of instance `instance`: `saga:{NAME}-{instance}`.
    fn stream_id(instance: &str) -> String {
        format!("saga:{}-{instance}", Self::NAME)
    }
}

/// Where an event goes: its instance, and whether it starts one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The instance's id.
    pub instance: String,
    /// Whether the event starts an instance (`#[saga(starts(...))]`).
    pub starts: bool,
}

/// Reacts to one event payload type: changes the saga's state and plans what to do next.
/// Must be deterministic: the state, the event and [`Plan::now`] only.
#[diagnostic::on_unimplemented(
    message = "saga `{Self}` has no reaction to event `{E}`",
    label = "`{E}` is not handled by `{Self}`",
    note = "add `impl annals::saga::React<{E}> for {Self} {{ fn react(&mut self, event: annals::Recorded<'_, {E}>, plan: &mut annals::saga::Plan<Self::Step>) {{ /* decide */ }} }}`, or stop consuming `{E}` in `#[saga(...)]`"
)]
pub trait React<E>: Steps {
    /// Reacts to `event`.
    fn react(&mut self, event: Recorded<'_, E>, plan: &mut Plan<Self::Step>);
}

/// What a saga's state is: JSON both ways, as its stream records it after each change.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a saga's state: its stream records the state as JSON",
    label = "does not derive `Serialize` and `Deserialize`",
    note = "add `#[derive(serde::Serialize, serde::Deserialize)]` to `{Self}`"
)]
pub trait SagaState: serde::Serialize + serde::de::DeserializeOwned {}

impl<T: serde::Serialize + serde::de::DeserializeOwned> SagaState for T {}
