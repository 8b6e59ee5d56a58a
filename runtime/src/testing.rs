//! Given/when/then fixtures for users' own tests.
//!
//! ```
//! # use annals::{Aggregate, Apply, Event, Command, Handle};
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

use std::fmt::Debug;

use crate::aggregate::Aggregate;
use crate::command::Command;

/// Given past events, when a command is decided, then these events (or this error).
///
/// Tests the decision alone: no store, no expected-version rule. Panics with a readable
/// message when an expectation fails, like `assert_eq!`.
pub struct AggregateFixture<A> {
    state: A,
    given: usize,
}

impl<A: Aggregate> AggregateFixture<A> {
    /// An aggregate that has recorded `events`.
    pub fn given<I>(events: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<A::Event>,
    {
        let mut state = A::default();
        let mut given = 0;
        for event in events {
            state.apply_event(&event.into());
            given += 1;
        }
        AggregateFixture { state, given }
    }

    /// An aggregate with no past events.
    pub fn given_no_events() -> Self {
        AggregateFixture {
            state: A::default(),
            given: 0,
        }
    }

    /// Adds more past events.
    pub fn and<I>(mut self, events: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<A::Event>,
    {
        for event in events {
            self.state.apply_event(&event.into());
            self.given += 1;
        }
        self
    }

    /// Decides `command` on the given state.
    pub fn when<C: Command<Aggregate = A>>(self, command: C) -> Then<A> {
        let result = command.handle(&self.state);
        Then {
            state: self.state,
            result,
            command: command.command_name(),
            given: self.given,
        }
    }
}

/// The outcome of [`AggregateFixture::when`], to assert on.
pub struct Then<A: Aggregate> {
    state: A,
    result: Result<Vec<A::Event>, A::Error>,
    command: &'static str,
    given: usize,
}

impl<A: Aggregate> Then<A> {
    /// Asserts the command recorded exactly `expected`, in order.
    #[track_caller]
    pub fn then_events<I>(self, expected: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<A::Event>,
        A::Event: PartialEq + Debug,
    {
        let expected: Vec<A::Event> = expected.into_iter().map(Into::into).collect();
        match &self.result {
            Ok(events) => assert!(
                *events == expected,
                "{} after {} given events recorded\n  {:?}\nexpected\n  {:?}",
                self.command,
                self.given,
                events,
                expected
            ),
            Err(error) => panic!(
                "{} after {} given events was rejected: {error}\nexpected events\n  {expected:?}",
                self.command, self.given
            ),
        }
        self
    }

    /// Asserts the command was accepted and recorded nothing.
    #[track_caller]
    pub fn then_no_events(self) -> Self
    where
        A::Event: PartialEq + Debug,
    {
        self.then_events(Vec::<A::Event>::new())
    }

    /// Asserts the command was rejected with `expected`.
    #[track_caller]
    pub fn then_error(self, expected: A::Error) -> Self
    where
        A::Error: PartialEq + Debug,
        A::Event: Debug,
    {
        match &self.result {
            Err(error) => assert!(
                *error == expected,
                "{} was rejected with\n  {error:?}\nexpected\n  {expected:?}",
                self.command
            ),
            Ok(events) => panic!(
                "{} was accepted, recording\n  {events:?}\nexpected the error\n  {expected:?}",
                self.command
            ),
        }
        self
    }

    /// Asserts the command was rejected with an error `check` accepts.
    #[track_caller]
    pub fn then_error_matches(self, check: impl FnOnce(&A::Error) -> bool) -> Self
    where
        A::Event: Debug,
    {
        match &self.result {
            Err(error) => assert!(
                check(error),
                "{} was rejected with an unexpected error: {error}",
                self.command
            ),
            Ok(events) => panic!(
                "{} was accepted, recording\n  {events:?}\nexpected an error",
                self.command
            ),
        }
        self
    }

    /// Asserts on the state after the recorded events are applied (the command must have
    /// been accepted).
    #[track_caller]
    pub fn then_state(self, check: impl FnOnce(&A)) -> Self
    where
        A: Clone,
    {
        let mut state = self.state.clone();
        match &self.result {
            Ok(events) => events.iter().for_each(|event| state.apply_event(event)),
            Err(error) => panic!(
                "{} was rejected: {error}; cannot check the state",
                self.command
            ),
        }
        check(&state);
        self
    }

    /// The raw decision, for assertions the helpers above do not cover.
    pub fn into_result(self) -> Result<Vec<A::Event>, A::Error> {
        self.result
    }
}

/// Given events, then the state of a projection's read model: the projection alone, no
/// store, no runner.
///
/// Events go through the same path as in the runner: encoded as they would be stored,
/// filtered by the projection's event types, decoded, and dispatched with an envelope
/// (stream id, stream version, a global position in the order given, metadata).
///
/// ```
/// # use std::collections::HashMap;
/// # use annals::{Event, Project, Projection, Recorded};
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
/// # struct Deposited { amount: i64 }
/// # #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
/// # struct Withdrawn { amount: i64 }
/// # #[derive(Event, Clone, Debug, PartialEq)]
/// # enum AccountEvent { Deposited(Deposited), Withdrawn(Withdrawn) }
/// # #[derive(Projection, Default)]
/// # #[projection(name = "deposits", events(AccountEvent::{Deposited}))]
/// # struct Deposits { by_account: HashMap<String, i64> }
/// # impl Project<Deposited> for Deposits {
/// #     fn project(&mut self, deposit: Recorded<'_, Deposited>) {
/// #         *self.by_account.entry(deposit.stream_id.to_owned()).or_default() += deposit.amount;
/// #     }
/// # }
/// use annals::testing::ProjectionFixture;
///
/// ProjectionFixture::new(Deposits::default())
///     .given("account-1", [AccountEvent::Deposited(Deposited { amount: 5 })])
///     .given("account-1", [AccountEvent::Withdrawn(Withdrawn { amount: 2 })]) // not consumed
///     .given("account-2", [AccountEvent::Deposited(Deposited { amount: 7 })])
///     .then(|deposits| {
///         assert_eq!(deposits.by_account["account-1"], 5);
///         assert_eq!(deposits.by_account["account-2"], 7);
///     });
/// ```
pub struct ProjectionFixture<P> {
    projection: P,
    position: u64,
    versions: std::collections::HashMap<String, u64>,
}

impl<P: crate::Projection> ProjectionFixture<P> {
    /// Starts from `projection` (usually `Default::default()`).
    pub fn new(projection: P) -> Self {
        ProjectionFixture {
            projection,
            position: 0,
            versions: Default::default(),
        }
    }

    /// Events recorded on `stream_id`, in order.
    #[track_caller]
    pub fn given<E, I>(mut self, stream_id: &str, events: I) -> Self
    where
        E: crate::Event,
        I: IntoIterator<Item = E>,
    {
        let consumed = P::event_types();
        for event in events {
            let encoded = event
                .encode()
                .unwrap_or_else(|error| panic!("a given event does not encode: {error}"));
            let version = self.versions.entry(stream_id.to_owned()).or_default();
            *version += 1;
            self.position += 1;
            let recorded = crate::RecordedEvent {
                position: self.position,
                stream_id: stream_id.to_owned(),
                stream_version: *version,
                event_id: uuid::Uuid::now_v7(),
                event_type: encoded.event_type.to_owned(),
                schema_version: encoded.schema_version,
                payload: encoded.payload,
                metadata: crate::Metadata::default(),
                recorded_at: chrono::Utc::now(),
            };
            if consumed.contains(&encoded.event_type) {
                self.projection
                    .project_recorded(&recorded)
                    .unwrap_or_else(|error| panic!("projection `{}` failed: {error}", P::NAME));
            }
        }
        self
    }

    /// Asserts on the read model.
    pub fn then(self, check: impl FnOnce(&P)) -> Self {
        check(&self.projection);
        self
    }

    /// The read model, for assertions the helpers above do not cover.
    pub fn into_projection(self) -> P {
        self.projection
    }
}
