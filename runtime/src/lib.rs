//! # annals
//!
//! Event sourcing, CQRS and domain-driven design for Rust.
//!
//! Annotate plain enums and structs; the derives generate the wiring:
//!
//! - [`macro@Event`] on an event enum: stable type names, schema versions, upcasting of older
//!   stored versions, payload encoding, and dispatch of each variant to an [`Apply`] handler;
//! - [`macro@Aggregate`] on the state: binds its events, its domain error and its stream kind;
//! - [`macro@Command`] on command structs (and enums of them): the target id, the expected
//!   stream state, and routing to the aggregate's [`Handle`] implementation;
//! - [`macro@Projection`] on a read model: the events it consumes (whole enums or some of
//!   their variants), its name and version, and dispatch to its [`Project`] handlers. A
//!   [`ProjectionRunner`](projection::ProjectionRunner) feeds it from the global log.
//!
//! A [`Repository`] then runs the command path against any
//! [`EventStore`](store::EventStore): load (snapshot + tail) → decide → append with the
//! expected version → on conflict reload and retry → snapshot per policy → return the
//! [`CommandOutcome`].
//!
//! The crate is laid out by concern, each type at one path:
//!
//! | where | what |
//! | --- | --- |
//! | `annals::` | the domain model (derives and their traits), the command path ([`Repository`] and its outcome, policies and errors) |
//! | [`annals::store`] | the event store: backends (in memory, SQLite, PostgreSQL), the log's records, and the traits a backend implements |
//! | [`annals::projection`] | read models: the runner, SQL read models, read models in stores of their own |
//! | [`annals::testing`] | given/when/then fixtures, and the stores' conformance suite (feature `testing`) |
//!
//! ```
//! use annals::{Aggregate, Apply, Command, CommandError, Event, Handle, Repository};
//! use annals::store::InMemoryStore;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
//! struct Deposited { amount: i64 }
//!
//! /// How version 1 stored a deposit.
//! #[derive(Serialize, Deserialize)]
//! struct DepositedV1 { cents: i64 }
//! impl From<DepositedV1> for Deposited {
//!     fn from(v1: DepositedV1) -> Self { Deposited { amount: v1.cents } }
//! }
//!
//! #[derive(Event, Clone, Debug, PartialEq)]
//! enum AccountEvent {
//!     #[event(version = 2, upcast(from = 1, with = DepositedV1))]
//!     Deposited(Deposited),
//! }
//!
//! #[derive(Debug, PartialEq, thiserror::Error)]
//! enum BankError {
//!     #[error("amounts must be positive")]
//!     NonPositive,
//! }
//!
//! #[derive(Aggregate, Default, Serialize, Deserialize)]
//! #[aggregate(event = AccountEvent, error = BankError, snapshot(version = 1))]
//! struct Account { balance: i64 }
//!
//! impl Apply<Deposited> for Account {
//!     fn apply(&mut self, event: &Deposited) { self.balance += event.amount }
//! }
//!
//! #[derive(Command)]
//! #[command(aggregate = Account, expect = any)]
//! struct Deposit { #[id] account: String, amount: i64 }
//!
//! impl Handle<Deposit> for Account {
//!     fn handle(&self, command: &Deposit) -> Result<Vec<AccountEvent>, BankError> {
//!         if command.amount <= 0 {
//!             return Err(BankError::NonPositive);
//!         }
//!         Ok(vec![Deposited { amount: command.amount }.into()])
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let accounts = Repository::<Account, _>::new(InMemoryStore::new());
//! let outcome = accounts.execute(Deposit { account: "alice".into(), amount: 100 }).await?;
//! assert_eq!((outcome.stream_id.as_str(), outcome.stream_version), ("account-alice", 1));
//!
//! let refused = accounts.execute(Deposit { account: "alice".into(), amount: -5 }).await;
//! assert!(matches!(refused, Err(CommandError::Rejected(BankError::NonPositive))));
//!
//! // An event stored by an older release, at schema version 1, loads through its upcaster.
//! use annals::store::{EventStore, ExpectedVersion, NewEvent};
//! let legacy = NewEvent::new("Deposited", 1, br#"{"cents":25}"#.to_vec(), Default::default());
//! accounts.store().append("account-alice", ExpectedVersion::Exact(1), vec![legacy]).await?;
//! assert_eq!(accounts.load("alice").await?.state.balance, 125);
//! # Ok(()) }
//! ```
//!
//! Design decisions are recorded in `docs/design.md` of the repository.

#![warn(missing_docs)]

extern crate self as annals;

mod aggregate;
mod backoff;
mod caught;
mod command;
#[doc(hidden)]
pub mod dispatch;
mod event;
mod key_hash;
pub mod messaging;
pub mod projection;
mod repository;
pub mod saga;
pub mod store;
pub mod testing;

pub use self::aggregate::{Aggregate, Apply};
pub use self::command::{Command, Expect, Handle};
pub use self::event::{DecodeFailure, EncodeError, Event, EventDecodeError, UpcastError};
pub use self::projection::model::{Project, Projection};
pub use self::projection::recorded::Recorded;
pub use self::repository::{
    CommandDispatcher, CommandError, CommandOutcome, Envelope, LoadError, Loaded, Repository,
    RetryPolicy, SnapshotPolicy,
};

/// The attribute for implementing annals' async traits: a store's
/// [`EventStore`](store::EventStore), an [`ExternalProjection`](projection::ExternalProjection).
pub use async_trait::async_trait;
/// Timestamps (`recorded_at`, temporal loads).
pub use chrono::{DateTime, Utc};
/// Event ids and correlation/causation ids (UUID v7 for new events).
pub use uuid::Uuid;

#[cfg(feature = "derive")]
pub use annals_macros::{Aggregate, Command, Event, Projection};

/// What generated code reaches besides [`dispatch`]: the stored form of events and
/// snapshots, and the decoding steps of upcast chains. Not public API: may change in any
/// release.
#[doc(hidden)]
pub mod __private {
    pub use serde;
    pub use serde_json;

    pub use crate::aggregate::{SnapshotFormat, SnapshotState};
    pub use crate::event::codec::{
        EncodedEvent, RawUpcaster, VariantInfo, decode_payload, decode_value, payload_value,
        raw_upcast,
    };
    pub use crate::event::names::{ConsumedEnum, assert_no_shared_names};
    pub use crate::saga::{RouteBy, Selected, route_event};
}
