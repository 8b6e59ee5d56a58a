//! Commands: intentions addressed to one aggregate instance.

use crate::aggregate::Aggregate;

/// A command: names its target aggregate instance and how the target stream must look before
/// it runs, and is decided by the aggregate's [`Handle`] implementation.
///
/// `#[derive(Command)]` implements it on a struct (the target id is the field marked `#[id]`)
/// and on an enum whose variants wrap such structs (it routes each variant).
///
/// # Attributes
///
/// `#[command(...)]` on a command struct:
///
/// | key | meaning | default |
/// | --- | --- | --- |
/// | `aggregate = A` | the aggregate that decides it, with `impl Handle<ThisCommand> for A` | required |
/// | `expect = new \| existing \| any` | the state the target stream must be in: `new` for a command that creates it (refused with [`AlreadyExists`](crate::CommandError::AlreadyExists) if it exists), `existing` ([`NotFound`](crate::CommandError::NotFound) if it does not), `any` to take either | `existing` |
/// | `id = path::to::fn` | the target id from an accessor, `fn(&Self) -> impl Display`, instead of an `#[id]` field | |
/// | `name = "..."` | the command's name in logs and traces | the type's name |
/// | `crate = "..."` | the path to annals, for crates that re-export it | `::annals` |
///
/// `#[id]` on one field (a type that is `Display`) names the target aggregate instance: the
/// stream is `"{kind}-{id}"`. A command has exactly one of `#[id]` or `id = ...`.
///
/// On an enum of commands (`enum AccountCommand { Open(Open), Deposit(Deposit) }`, each
/// variant wrapping one command struct), `#[command(...)]` takes `aggregate` and `crate`
/// only: each variant keeps its own `expect`, id and name.
///
/// ```
/// # use annals::{Aggregate, Apply, Event};
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
/// # struct Incremented { by: u32 }
/// # #[derive(Event, Clone, Debug, PartialEq)]
/// # enum CounterEvent { Incremented(Incremented) }
/// # #[derive(Debug, thiserror::Error)]
/// # #[error("counter error")]
/// # struct CounterError;
/// # #[derive(Aggregate, Default)]
/// # #[aggregate(event = CounterEvent, error = CounterError)]
/// # struct Counter { value: u32 }
/// # impl Apply<Incremented> for Counter {
/// #     fn apply(&mut self, event: &Incremented) { self.value += event.by }
/// # }
/// use annals::{Command, Expect, Handle};
///
/// #[derive(Command)]
/// #[command(aggregate = Counter, expect = any)]
/// struct Increment { #[id] counter: String, by: u32 }
///
/// impl Handle<Increment> for Counter {
///     fn handle(&self, command: &Increment) -> Result<Vec<CounterEvent>, CounterError> {
///         Ok(vec![Incremented { by: command.by }.into()])
///     }
/// }
///
/// let command = Increment { counter: "c1".into(), by: 3 };
/// assert_eq!(command.aggregate_id(), "c1");
/// assert_eq!(command.expect(), Expect::Any);
/// let events = command.handle(&Counter::default()).unwrap();
/// assert_eq!(events, vec![CounterEvent::Incremented(Incremented { by: 3 })]);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a command",
    label = "not a command",
    note = "add `#[derive(annals::Command)]` and `#[command(aggregate = ...)]` to `{Self}`, and mark its target id field with `#[id]`"
)]
pub trait Command: Send + Sync + 'static {
    /// The aggregate this command is addressed to.
    type Aggregate: Aggregate;

    /// The command's name, for logs and traces.
    fn command_name(&self) -> &'static str;
    /// The id of the target aggregate instance (the stream is `"{KIND}-{id}"`).
    fn aggregate_id(&self) -> String;
    /// What the target stream must look like before this command runs.
    fn expect(&self) -> Expect;
    /// Decides: the events this command records on `aggregate`, or the domain error.
    #[allow(clippy::type_complexity)]
    fn handle(
        &self,
        aggregate: &Self::Aggregate,
    ) -> Result<Vec<<Self::Aggregate as Aggregate>::Event>, <Self::Aggregate as Aggregate>::Error>;
}

/// Decides one command type: pure, `&self`, returns the events to record or a domain error.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no handler for command `{C}`",
    label = "`{C}` is not handled by `{Self}`",
    note = "add `impl annals::Handle<{C}> for {Self} {{ fn handle(&self, command: &{C}) -> Result<Vec<Self::Event>, Self::Error> {{ /* decide */ }} }}`"
)]
pub trait Handle<C>: Aggregate {
    /// Decides the command against the current state. Must not mutate anything.
    fn handle(&self, command: &C) -> Result<Vec<Self::Event>, Self::Error>;
}

/// The state the target stream must be in for a command to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Expect {
    /// The stream must not exist yet (`#[command(expect = new)]`): creation commands.
    New,
    /// The stream must exist (`#[command(expect = existing)]`, the default).
    #[default]
    Existing,
    /// Either (`#[command(expect = any)]`): the handler sees `Default` state for a new stream.
    Any,
}
