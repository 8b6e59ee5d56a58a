//! The event store: an append-only log of recorded events, per stream and in global order,
//! and the backends that keep it.
//!
//! - **Backends**: [`InMemoryStore`] (tests, prototypes), [`SqliteStore`] (embedded, one
//!   file; feature `sqlite`, on by default) and [`PostgresStore`] (production; feature
//!   `postgres`). Each is a cheap handle to clone.
//! - **The log**: [`EventStore`] appends [`NewEvent`]s with an [`ExpectedVersion`] check and
//!   reads [`RecordedEvent`]s back, per stream or in global order ([`EventFilter`]). Its
//!   [`Catalog`] refuses two aggregates of one stream kind, and two event enums storing
//!   events under one name.
//! - **Capabilities** beside the log, each a trait a backend implements: snapshots
//!   ([`SnapshotStore`]), checkpoints of the log's readers ([`CheckpointStore`]), SQL read
//!   models committed with their checkpoint ([`SqlTarget`]), consumers' inboxes committed
//!   with their statements ([`InboxStore`]), dead letters of relays and consumers
//!   ([`DeadLetterStore`]) and the sagas waiting for time or an operator ([`SagaStore`]).
//!
//! Every backend passes the same conformance suite (`annals::testing::conformance`, feature
//! `testing`), which a third-party backend can run too.

mod catalog;
mod checkpoint;
mod columns;
mod dead_letter;
mod error;
mod event_store;
mod expected_version;
mod filter;
mod head;
mod hidden;
mod inbox;
mod memory;
#[cfg(feature = "postgres")]
mod postgres;
mod read_model;
mod record;
mod saga;
mod snapshot;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use self::catalog::{Catalog, ClaimError, Owner};
pub use self::checkpoint::CheckpointStore;
pub use self::dead_letter::{DeadLetter, DeadLetterStore};
pub use self::error::StoreError;
pub use self::event_store::{
    EventLocation, EventStore, LogVisitor, MAX_EVENT_TYPE_BYTES, MAX_STREAM_ID_BYTES, StreamVisitor,
};
pub use self::expected_version::ExpectedVersion;
pub use self::filter::EventFilter;
pub use self::hidden::HiddenAppends;
pub use self::inbox::InboxStore;
pub use self::memory::InMemoryStore;
#[cfg(feature = "postgres")]
pub use self::postgres::{Migration, PostgresOptions, PostgresStore};
pub use self::read_model::{SqlStatement, SqlTarget, SqlValue};
pub use self::record::{AppendResult, EventRef, Metadata, NewEvent, RecordedEvent};
pub use self::saga::{OpenSaga, SagaStore};
pub use self::snapshot::{Snapshot, SnapshotStore};
#[cfg(feature = "sqlite")]
pub use self::sqlite::{Durability, SqliteOptions, SqliteStore};

pub(crate) use self::event_store::{Resent, check_append, check_stream_id, resent};
pub(crate) use self::head::{Head, head_changed};
