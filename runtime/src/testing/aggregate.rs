//! Given past events, when a command is decided, then these events or this error.

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
