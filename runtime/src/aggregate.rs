//! Aggregates: consistency boundaries whose state is the fold of their events.

use crate::dispatch::ApplyTo;

/// An event-sourced aggregate: its state is `Default` folded over its events with
/// [`Aggregate::apply_event`].
///
/// Implemented by `#[derive(Aggregate)]`, which binds the event family, the domain error and
/// the stream kind, and generates `apply` from the user's [`Apply`] handlers.
///
/// # Attributes
///
/// `#[aggregate(...)]` on the state's struct (or enum):
///
/// | key | meaning | default |
/// | --- | --- | --- |
/// | `event = E` | the event enum the aggregate records; an [`Apply`] impl for each of its payloads | required |
/// | `error = E` | the domain error its [`Handle`](crate::Handle) impls return (`std::error::Error`) | required |
/// | `kind = "..."` | the stream kind: the aggregate's streams are `"{kind}-{id}"`; one aggregate per kind in a log | the type's name in snake_case |
/// | `snapshot(version = N)` | the repository may store snapshots of the state (which derives `Serialize` and `Deserialize`) at schema version N; bump N when the state's shape changes, and older snapshots are ignored | no snapshots |
/// | `crate = "..."` | the path to annals, for crates that re-export it | `::annals` |
///
/// ```
/// use annals::{Aggregate, Apply, Event};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
/// struct Incremented { by: u32 }
///
/// #[derive(Event, Clone, Debug, PartialEq)]
/// enum CounterEvent { Incremented(Incremented) }
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("counter error")]
/// struct CounterError;
///
/// #[derive(Aggregate, Default, Serialize, Deserialize)]
/// #[aggregate(event = CounterEvent, error = CounterError, kind = "tally", snapshot(version = 1))]
/// struct Counter { value: u32 }
///
/// impl Apply<Incremented> for Counter {
///     fn apply(&mut self, event: &Incremented) { self.value += event.by }
/// }
///
/// let mut counter = Counter::default();
/// counter.apply_event(&CounterEvent::Incremented(Incremented { by: 2 }));
/// assert_eq!(counter.value, 2);
/// assert_eq!(Counter::stream_id("c-1"), "tally-c-1");
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an aggregate",
    label = "not an aggregate",
    note = "add `#[derive(annals::Aggregate, Default)]` and `#[aggregate(event = ..., error = ...)]` to `{Self}`"
)]
pub trait Aggregate: Default + Send + Sync + 'static {
    /// The stream kind: stream ids of this aggregate are `"{KIND}-{id}"`.
    const KIND: &'static str;
    /// The events this aggregate records.
    type Event: ApplyTo<Self>;
    /// The domain error its command handlers return.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Applies one event. Applying cannot fail: events are facts.
    fn apply_event(&mut self, event: &Self::Event);

    /// How snapshots of this aggregate are encoded, if it takes snapshots
    /// (`#[aggregate(snapshot(version = N))]`; the derive writes it).
    #[doc(hidden)]
    fn snapshot_format() -> Option<SnapshotFormat<Self>> {
        None
    }

    /// The stream id of the aggregate instance with this id.
    fn stream_id(id: &str) -> String {
        let mut stream = String::with_capacity(Self::KIND.len() + 1 + id.len());
        stream.push_str(Self::KIND);
        stream.push('-');
        stream.push_str(id);
        stream
    }
}

/// Applies one event payload type to an aggregate (or any other fold, such as a projection).
///
/// Write one impl per event variant; `#[derive(Aggregate)]` dispatches to them.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no handler for event `{E}`",
    label = "`{E}` is not applied to `{Self}`",
    note = "add `impl annals::Apply<{E}> for {Self} {{ fn apply(&mut self, event: &{E}) {{ /* evolve the state */ }} }}`"
)]
pub trait Apply<E> {
    /// Evolves the state with one event. Cannot fail.
    fn apply(&mut self, event: &E);
}

/// What a snapshot's state is: JSON both ways. Every type that derives `Serialize` and
/// `Deserialize` is one; generated code asks for this one trait, so a state missing its
/// derives is one error, not one per use.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be snapshotted: a snapshot stores the state as JSON",
    label = "does not derive `Serialize` and `Deserialize`",
    note = "add `#[derive(serde::Serialize, serde::Deserialize)]` to `{Self}`, or remove `snapshot(...)` from its `#[aggregate(...)]`"
)]
pub trait SnapshotState: serde::Serialize + serde::de::DeserializeOwned {}

impl<T: serde::Serialize + serde::de::DeserializeOwned> SnapshotState for T {}

impl<A: SnapshotState> SnapshotFormat<A> {
    /// The JSON format of snapshot schema `version`.
    pub const fn json(version: u32) -> Self {
        SnapshotFormat {
            version,
            shape: 0,
            encode: |state| serde_json::to_vec(state),
            decode: |bytes| serde_json::from_slice(bytes),
        }
    }

    /// The same format for a state of shape `shape` (the derive's fingerprint of the
    /// state's fields and types).
    pub const fn with_shape(mut self, shape: u64) -> Self {
        self.shape = shape;
        self
    }
}

/// How an aggregate's state is encoded in a snapshot.
///
/// `version` is the snapshot schema version, and `shape` a fingerprint of the state's
/// fields and their types: a stored snapshot with another version or shape is ignored and
/// the state is rebuilt from events.
pub struct SnapshotFormat<A> {
    /// The snapshot schema version.
    pub version: u32,
    /// The fingerprint of the state's shape.
    pub shape: u64,
    /// Encodes the state.
    pub encode: fn(&A) -> Result<Vec<u8>, serde_json::Error>,
    /// Decodes a state of this `version`.
    pub decode: fn(&[u8]) -> Result<A, serde_json::Error>,
}

impl<A> Clone for SnapshotFormat<A> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<A> Copy for SnapshotFormat<A> {}

impl<A> std::fmt::Debug for SnapshotFormat<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotFormat")
            .field("version", &self.version)
            .field("shape", &self.shape)
            .finish_non_exhaustive()
    }
}
