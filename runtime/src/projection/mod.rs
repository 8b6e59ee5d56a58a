//! Projections: read models fed from the global log, each from its own checkpoint.
//!
//! A projection is a plain struct with `#[derive(Projection)]`, which names the event
//! enums it consumes (whole enums, or some of their variants), its name and its version.
//! The derive generates the event-type filter (the runner reads only those types from the
//! store) and the dispatch of each recorded event to the struct's
//! [`Project`](crate::Project) handlers, which see the whole envelope
//! ([`Recorded`](crate::Recorded)): stream id, stream version, global position, timestamp,
//! metadata and the payload.
//!
//! A [`ProjectionRunner`] feeds each projection from the log, in a task of its own, into
//! one of three homes:
//! - memory ([`ProjectionRunner::spawn`]): the read model and its checkpoint change
//!   together, exactly once;
//! - SQL tables of the store's own database ([`SqlProjection`], [`ProjectionRunner::spawn_sql`]):
//!   each batch's statements commit with the checkpoint, exactly once;
//! - a store of its own ([`ExternalProjection`], [`ProjectionRunner::spawn_external`]): at
//!   least once, deduplicated by the read model's inbox.
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

mod external;
pub(crate) mod model;
pub(crate) mod recorded;
mod runner;
mod sql;

pub use self::external::{ExternalProjection, ReadModelError};
use self::model::Projection;
pub use self::runner::{
    Lag, ProjectionFailure, ProjectionHandle, ProjectionReader, ProjectionRunner, RunnerOptions,
    Status, WaitError, Waiting,
};
pub use self::sql::{SqlProjection, SqlWriter};
