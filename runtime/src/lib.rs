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
//!   stream state, and routing to the aggregate's [`Handle`] implementation.
//!
//! A [`Repository`] then runs the command path against any [`EventStore`]: load (snapshot +
//! tail) → decide → append with the expected version → on conflict reload and retry →
//! snapshot per policy → return the [`CommandOutcome`].
//!
//! Design decisions are recorded in `docs/` of the repository.

#![warn(missing_docs)]

extern crate self as annals;

pub mod aggregate;
pub mod command;
pub mod event;
pub mod repository;
pub mod store;
pub mod testing;

pub use aggregate::{Aggregate, Apply, SnapshotFormat};
pub use command::{Command, Expect, Handle};
pub use event::{
    ApplyTo, DecodeFailure, EncodeError, EncodedEvent, Event, EventDecodeError, RawUpcaster,
    UpcastError,
};
pub use repository::{
    CommandError, CommandOutcome, Envelope, LoadError, Loaded, Repository, RetryPolicy,
    SnapshotPolicy,
};
pub use store::{
    AppendResult, EventFilter, EventStore, ExpectedVersion, InMemoryStore, Metadata, NewEvent,
    RecordedEvent, Snapshot, SnapshotStore, StoreError,
};

#[cfg(feature = "derive")]
pub use annals_macros::{Aggregate, Command, Event};

/// Re-exports used by generated code. Not public API: may change in any release.
#[doc(hidden)]
pub mod __private {
    pub use serde;
    pub use serde_json;

    pub use crate::event::codec::{decode_payload, decode_value, payload_value, raw_upcast};
}
