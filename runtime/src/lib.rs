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
//!   [`projection::ProjectionRunner`] feeds it from the global log.
//!
//! A [`Repository`] then runs the command path against any [`EventStore`]: load (snapshot +
//! tail) → decide → append with the expected version → on conflict reload and retry →
//! snapshot per policy → return the [`CommandOutcome`].
//!
//! ```
//! use annals::{Aggregate, Apply, Command, CommandError, Event, Handle, InMemoryStore, Repository};
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
//! let legacy = annals::NewEvent::new("Deposited", 1, br#"{"cents":25}"#.to_vec(), Default::default());
//! annals::EventStore::append(accounts.store(), "account-alice", annals::ExpectedVersion::Exact(1), vec![legacy]).await?;
//! assert_eq!(accounts.load("alice").await?.state.balance, 125);
//! # Ok(()) }
//! ```
//!
//! Design decisions are recorded in `docs/design.md` of the repository.

#![warn(missing_docs)]

extern crate self as annals;

pub mod aggregate;
pub mod command;
pub mod event;
pub mod projection;
pub mod repository;
pub mod store;
pub mod testing;

pub use aggregate::{Aggregate, Apply, SnapshotFormat};
pub use command::{Command, Expect, Handle};
pub use event::{
    ApplyTo, DecodeFailure, EncodeError, EncodedEvent, Event, EventDecodeError, RawUpcaster,
    UpcastError, VariantInfo,
};
pub use projection::{Project, ProjectTo, Projection, Recorded};
pub use repository::{
    CommandError, CommandOutcome, Envelope, LoadError, Loaded, Repository, RetryPolicy,
    SnapshotPolicy,
};
pub use store::{
    AppendResult, EventFilter, EventRef, EventStore, ExpectedVersion, InMemoryStore, LogVisitor,
    Metadata, NewEvent, RecordedEvent, Snapshot, SnapshotStore, StoreError, StreamVisitor,
};

/// The attribute store implementations use on their `impl EventStore`/`impl SnapshotStore`
/// blocks (the traits are declared with it).
pub use async_trait::async_trait;
/// Timestamps (`recorded_at`, temporal loads).
pub use chrono::{DateTime, Utc};
/// Event ids and correlation/causation ids (UUID v7 for new events).
pub use uuid::Uuid;

#[cfg(feature = "derive")]
pub use annals_macros::{Aggregate, Command, Event, Projection};

/// Re-exports used by generated code. Not public API: may change in any release.
#[doc(hidden)]
pub mod __private {
    pub use serde;
    pub use serde_json;

    pub use crate::event::codec::{decode_payload, decode_value, payload_value, raw_upcast};
}
