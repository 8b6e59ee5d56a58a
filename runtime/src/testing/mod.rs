//! Given/when/then fixtures for users' own tests, and the conformance suite of event stores.
//!
//! - [`AggregateFixture`]: given past events, when a command is decided, then these events
//!   or this error;
//! - [`ProjectionFixture`]: given events, then this read model;
//! - [`SagaFixture`]: given events, when an event arrives, time passes or an operator
//!   acts, then these steps and compensations, and this status;
//! - `conformance` (feature `testing`): the behaviours every event store must have, one
//!   public async function each, which a third-party store runs with
//!   `conformance_suite!`.
//!
//! ```
//! # use annals::{Aggregate, Apply, Command, Event, Handle};
//! # use serde::{Deserialize, Serialize};
//! # #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
//! # struct Incremented { by: u32 }
//! # #[derive(Event, Clone, Debug, PartialEq)]
//! # enum CounterEvent { Incremented(Incremented) }
//! # #[derive(Debug, PartialEq, thiserror::Error)]
//! # #[error("too big")]
//! # struct TooBig;
//! # #[derive(Aggregate, Default)]
//! # #[aggregate(event = CounterEvent, error = TooBig)]
//! # struct Counter { value: u32 }
//! # impl Apply<Incremented> for Counter {
//! #     fn apply(&mut self, event: &Incremented) { self.value += event.by }
//! # }
//! # #[derive(Command)]
//! # #[command(aggregate = Counter, expect = any)]
//! # struct Increment { #[id] counter: String, by: u32 }
//! # impl Handle<Increment> for Counter {
//! #     fn handle(&self, c: &Increment) -> Result<Vec<CounterEvent>, TooBig> {
//! #         if self.value + c.by > 10 { return Err(TooBig) }
//! #         Ok(vec![Incremented { by: c.by }.into()])
//! #     }
//! # }
//! use annals::testing::AggregateFixture;
//!
//! AggregateFixture::<Counter>::given([Incremented { by: 4 }])
//!     .when(Increment { counter: "c".into(), by: 3 })
//!     .then_events([Incremented { by: 3 }]);
//!
//! AggregateFixture::<Counter>::given([Incremented { by: 9 }])
//!     .when(Increment { counter: "c".into(), by: 3 })
//!     .then_error(TooBig);
//! ```

mod aggregate;
#[cfg(feature = "testing")]
pub mod conformance;
#[cfg(feature = "testing")]
#[doc(inline)]
pub use self::conformance::conformance_suite;
mod log;
mod projection;
mod saga;

pub use self::aggregate::{AggregateFixture, Then};
pub use self::projection::ProjectionFixture;
pub use self::saga::SagaFixture;
