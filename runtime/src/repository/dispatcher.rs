//! The command dispatcher: command types routed to the repositories that serve their
//! aggregates, so a saga or a message consumer sends a command without knowing which
//! repository (or store) serves it.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;

use super::{CommandError, CommandOutcome, Repository};
use crate::aggregate::Aggregate;
use crate::command::{Command, Expect};
use crate::store::{EventStore, Metadata, SnapshotStore};

/// Routes each command to the repository of its aggregate.
///
/// ```
/// # use annals::{Aggregate, Apply, Command, Event, Handle};
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
/// # #[derive(Command)]
/// # #[command(aggregate = Counter, expect = any)]
/// # struct Increment { #[id] counter: String, by: u32 }
/// # impl Handle<Increment> for Counter {
/// #     fn handle(&self, c: &Increment) -> Result<Vec<CounterEvent>, CounterError> {
/// #         Ok(vec![Incremented { by: c.by }.into()])
/// #     }
/// # }
/// use annals::{CommandDispatcher, Repository};
/// use annals::store::InMemoryStore;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let commands = CommandDispatcher::new()
///     .with_repository(Repository::<Counter, _>::new(InMemoryStore::new()));
/// let outcome = commands.execute(Increment { counter: "c1".into(), by: 2 }).await?;
/// assert_eq!(outcome.stream_version, 1);
/// # Ok(()) }
/// ```
#[derive(Default, Clone)]
pub struct CommandDispatcher {
    /// Per aggregate type, an `Arc<dyn Route<A>>`.
    routes: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
}

impl std::fmt::Debug for CommandDispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommandDispatcher")
            .field("aggregates", &self.routes.len())
            .finish()
    }
}

impl CommandDispatcher {
    /// A dispatcher with no repository.
    pub fn new() -> Self {
        Self::default()
    }

    /// Routes the commands of aggregate `A` to `repository`.
    ///
    /// # Panics
    ///
    /// When a repository of `A` is routed already: two would serve one stream kind.
    #[track_caller]
    pub fn with_repository<A, S>(mut self, repository: Repository<A, S>) -> Self
    where
        A: Aggregate,
        S: EventStore + SnapshotStore + Clone,
    {
        let route: Arc<dyn Route<A>> = Arc::new(repository);
        let previous = self.routes.insert(TypeId::of::<A>(), Arc::new(route));
        assert!(
            previous.is_none(),
            "a repository of aggregate `{}` is routed already",
            std::any::type_name::<A>()
        );
        self
    }

    /// Runs `command` on its aggregate's repository ([`Repository::execute`]).
    pub async fn execute<C: Command>(&self, command: C) -> Outcome<C> {
        self.execute_with(command, Metadata::default()).await
    }

    /// Runs `command` with `metadata` ([`Repository::execute_with`]).
    pub async fn execute_with<C: Command>(&self, command: C, metadata: Metadata) -> Outcome<C> {
        self.route::<C>(&command)?
            .run(None, Box::new(command), metadata)
            .await
    }

    /// Runs `command` at most once for `key` ([`Repository::execute_once`]).
    pub async fn execute_once<C: Command>(&self, key: &str, command: C) -> Outcome<C> {
        self.execute_once_with(key, command, Metadata::default())
            .await
    }

    /// Runs `command` with `metadata`, at most once for `key`
    /// ([`Repository::execute_once_with`]).
    pub async fn execute_once_with<C: Command>(
        &self,
        key: &str,
        command: C,
        metadata: Metadata,
    ) -> Outcome<C> {
        self.route::<C>(&command)?
            .run(Some(key), Box::new(command), metadata)
            .await
    }

    /// The route of `C`'s aggregate.
    #[allow(clippy::type_complexity)]
    fn route<C: Command>(
        &self,
        command: &C,
    ) -> Result<&Arc<dyn Route<C::Aggregate>>, CommandError<<C::Aggregate as Aggregate>::Error>>
    {
        self.routes
            .get(&TypeId::of::<C::Aggregate>())
            .and_then(|route| route.downcast_ref::<Arc<dyn Route<C::Aggregate>>>())
            .ok_or_else(|| CommandError::NoRepository {
                command: command.command_name(),
                aggregate: std::any::type_name::<C::Aggregate>(),
            })
    }
}

/// What a dispatched command returns.
pub type Outcome<C> = Result<
    CommandOutcome<<<C as Command>::Aggregate as Aggregate>::Event>,
    CommandError<<<C as Command>::Aggregate as Aggregate>::Error>,
>;

/// A command of aggregate `A`, its type erased.
type AnyCommand<A> = Box<dyn Command<Aggregate = A>>;

impl<A: Aggregate> Command for AnyCommand<A> {
    type Aggregate = A;

    fn command_name(&self) -> &'static str {
        (**self).command_name()
    }

    fn aggregate_id(&self) -> String {
        (**self).aggregate_id()
    }

    fn expect(&self) -> Expect {
        (**self).expect()
    }

    fn handle(&self, aggregate: &A) -> Result<Vec<A::Event>, A::Error> {
        (**self).handle(aggregate)
    }
}

/// A repository of `A`, its store erased.
#[async_trait]
trait Route<A: Aggregate>: Send + Sync + 'static {
    async fn run(
        &self,
        key: Option<&str>,
        command: AnyCommand<A>,
        metadata: Metadata,
    ) -> Result<CommandOutcome<A::Event>, CommandError<A::Error>>;
}

#[async_trait]
impl<A, S> Route<A> for Repository<A, S>
where
    A: Aggregate,
    S: EventStore + SnapshotStore + Clone,
{
    async fn run(
        &self,
        key: Option<&str>,
        command: AnyCommand<A>,
        metadata: Metadata,
    ) -> Result<CommandOutcome<A::Event>, CommandError<A::Error>> {
        match key {
            Some(key) => self.execute_once_with(key, command, metadata).await,
            None => self.execute_with(command, metadata).await,
        }
    }
}
