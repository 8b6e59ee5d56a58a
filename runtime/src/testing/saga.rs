//! Given events, when an event arrives, time passes or an operator acts, then these steps
//! and compensations were performed and the saga stands so.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::log::GivenLog;
use crate::event::Event;
use crate::saga::instance::Next;
use crate::saga::record::{self, OperatorAction};
use crate::saga::{Instance, Saga, SagaOptions, SagaStatus, SagaView, StepError, StepOutput};
use crate::store::{Metadata, RecordedEvent};

/// Given events, when an event arrives, time passes or an operator acts, then these steps
/// and compensations were performed, and the saga completed, compensated, or is stuck.
///
/// Tests a saga's decisions alone: no store, no runner, no services. Steps are not
/// performed: each answers what the test scripted ([`answers`](Self::answers)), and
/// succeeds with no output otherwise. The instance goes through its records as a runner
/// saves them: after each event, tick or action its stream is folded again from the
/// start, as after a crash, so what a test sees is what a restarted runner would.
/// Time starts at 2025-01-01 00:00 UTC ([`starting_at`](Self::starting_at)) and moves
/// only when the test says.
///
/// The fixture follows one instance: the one the first consumed event starts. Events the
/// saga does not consume, and events that find no instance and do not start one, are
/// skipped, as the runner skips them. Each given event gets the fixture's correlation id,
/// so a saga routed by `id = correlation` finds one instance.
///
/// Panics with a readable message when an expectation fails, like `assert_eq!`.
///
/// ```
/// # use annals::{Event, Recorded};
/// # use annals::saga::{Plan, React, Saga, StepContext, StepError, StepOutput, Steps};
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
/// # pub struct TransferRequested { pub transfer: String, pub amount: i64 }
/// # #[derive(Event, Clone, Debug, PartialEq)]
/// # pub enum TransferEvent { Requested(TransferRequested) }
/// #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
/// pub enum Move { Debit(i64), Credit(i64), Refund(i64) }
///
/// #[derive(Saga, Default, Serialize, Deserialize)]
/// #[saga(starts(TransferEvent::{Requested}), id = transfer)]
/// pub struct Transfer { amount: i64 }
///
/// impl React<TransferRequested> for Transfer {
///     fn react(&mut self, event: Recorded<'_, TransferRequested>, plan: &mut Plan<Move>) {
///         self.amount = event.amount;
///         plan.step(Move::Debit(event.amount)).compensated_by(Move::Refund(event.amount));
///         plan.step(Move::Credit(event.amount));
///         plan.complete();
///     }
/// }
///
/// #[annals::async_trait]
/// impl Steps for Transfer {
///     type Step = Move;
///     type Services = ();
///     async fn perform(_: &Move, _: &StepContext<'_, ()>) -> Result<StepOutput, StepError> {
///         Ok(StepOutput::none())
///     }
/// }
///
/// use annals::testing::SagaFixture;
///
/// // Everything succeeds.
/// SagaFixture::<Transfer>::new()
///     .when(TransferEvent::Requested(TransferRequested { transfer: "t1".into(), amount: 5 }))
///     .then_performed([Move::Debit(5), Move::Credit(5)])
///     .then_completed();
///
/// // The credit is refused: the debit is refunded.
/// SagaFixture::<Transfer>::new()
///     .answers(Move::Credit(5), [Err(StepError::rejected("account closed"))])
///     .when(TransferEvent::Requested(TransferRequested { transfer: "t2".into(), amount: 5 }))
///     .then_performed([Move::Debit(5), Move::Credit(5), Move::Refund(5)])
///     .then_compensated();
/// ```
pub struct SagaFixture<S: Saga> {
    instance: Option<Instance<S>>,
    /// The instance's stream, as a runner would have saved it.
    history: Vec<RecordedEvent>,
    log: GivenLog,
    now: DateTime<Utc>,
    options: SagaOptions,
    correlation: Uuid,
    answers: Vec<(S::Step, Answers)>,
    performed: Vec<S::Step>,
}

/// A step's scripted answers, the next first.
type Answers = VecDeque<Result<StepOutput, StepError>>;

impl<S: Saga> Default for SagaFixture<S>
where
    S::Step: PartialEq,
{
    fn default() -> Self {
        Self::new()
    }
}

impl<S: Saga> SagaFixture<S>
where
    S::Step: PartialEq,
{
    /// No instance yet, at 2025-01-01 00:00 UTC, with the default retries.
    pub fn new() -> Self {
        SagaFixture {
            instance: None,
            history: Vec::new(),
            log: GivenLog::default(),
            now: DateTime::from_timestamp(1_735_689_600, 0).expect("a valid time"),
            options: SagaOptions::default(),
            correlation: Uuid::now_v7(),
            answers: Vec::new(),
            performed: Vec::new(),
        }
    }

    /// Starts the clock at `at`.
    pub fn starting_at(mut self, at: DateTime<Utc>) -> Self {
        self.now = at;
        self
    }

    /// Retries steps and compensations as `options` say (the other options do not apply).
    pub fn with_options(mut self, options: SagaOptions) -> Self {
        self.options = options;
        self
    }

    /// What `step` answers when performed: the first result the first time, and so on;
    /// the last one every time after. A step without answers succeeds with no output.
    ///
    /// `Err(StepError::rejected(..))` is a domain refusal, `Err(StepError::failed(..))` a
    /// failure that is retried (after a pause: see [`when_time_passes`](Self::when_time_passes)).
    #[track_caller]
    pub fn answers<I>(mut self, step: S::Step, results: I) -> Self
    where
        I: IntoIterator<Item = Result<StepOutput, StepError>>,
    {
        let results: Answers = results.into_iter().collect();
        assert!(!results.is_empty(), "no answers given for step {step:?}");
        self.answers.retain(|(scripted, _)| *scripted != step);
        self.answers.push((step, results));
        self
    }

    /// Events that happened before, handled in order (their plans performed as far as
    /// they go).
    #[track_caller]
    pub fn given<E: Event, I: IntoIterator<Item = E>>(mut self, events: I) -> Self {
        self.performed.clear();
        for event in events {
            self.handle(&event);
        }
        self
    }

    /// `event` arrives: the saga reacts and performs its plan as far as it goes.
    #[track_caller]
    pub fn when<E: Event>(mut self, event: E) -> Self {
        self.performed.clear();
        self.handle(&event);
        self
    }

    /// Time passes: what falls due on the way (retries, deadlines) happens at its time.
    #[track_caller]
    pub fn when_time_passes(mut self, duration: std::time::Duration) -> Self {
        self.performed.clear();
        let until =
            self.now + chrono::Duration::from_std(duration).expect("a duration chrono can hold");
        while let Some(instance) = &self.instance {
            match instance.wake_at(self.now) {
                Some(Some(at)) if at <= until => {
                    self.now = self.now.max(at);
                    self.drive();
                    // Nothing more can happen at this time.
                    if self.instance.as_ref().and_then(|i| i.wake_at(self.now)) == Some(Some(at)) {
                        break;
                    }
                }
                _ => break,
            }
        }
        self.now = until;
        self
    }

    /// An operator retries the stuck compensation (with fresh retries).
    #[track_caller]
    pub fn when_operator_retries(self) -> Self {
        self.operate(OperatorAction::Retry, "retry")
    }

    /// An operator takes the stuck compensation as done by hand.
    #[track_caller]
    pub fn when_operator_skips(self) -> Self {
        self.operate(OperatorAction::Skip, "skip")
    }

    /// An operator closes the saga.
    #[track_caller]
    pub fn when_operator_resolves(self) -> Self {
        self.operate(OperatorAction::Resolve, "resolve")
    }

    /// Asserts the steps and compensations performed (each try, in order) by the last
    /// `given`, `when...`.
    #[track_caller]
    pub fn then_performed<I: IntoIterator<Item = S::Step>>(self, expected: I) -> Self {
        let expected: Vec<_> = expected.into_iter().collect();
        assert!(
            self.performed == expected,
            "saga `{}` performed {:?}, expected {:?}",
            S::NAME,
            self.performed,
            expected
        );
        self
    }

    /// Asserts where the instance stands.
    #[track_caller]
    pub fn then_status(self, expected: SagaStatus) -> Self {
        let status = self.instance().status.clone();
        assert!(
            status == expected,
            "saga `{}` is {status:?}, expected {expected:?}",
            S::NAME
        );
        self
    }

    /// Asserts that the saga completed.
    #[track_caller]
    pub fn then_completed(self) -> Self {
        self.then_status(SagaStatus::Completed)
    }

    /// Asserts that the saga compensated (whatever the cause).
    #[track_caller]
    pub fn then_compensated(self) -> Self {
        let status = &self.instance().status;
        assert!(
            matches!(status, SagaStatus::Compensated { .. }),
            "saga `{}` is {status:?}, expected it compensated",
            S::NAME
        );
        self
    }

    /// Asserts that the saga waits for an operator, stuck on `step`.
    #[track_caller]
    pub fn then_stuck_on(self, step: S::Step) -> Self {
        let status = &self.instance().status;
        let expected = format!("{step:?}");
        assert!(
            matches!(status, SagaStatus::Stuck { step, .. } if *step == expected),
            "saga `{}` is {status:?}, expected it stuck on {expected}",
            S::NAME
        );
        self
    }

    /// Asserts on the instance: its state, status, pending steps, compensations and
    /// deadlines.
    #[track_caller]
    pub fn then(self, check: impl FnOnce(&SagaView<S>)) -> Self {
        check(&self.view());
        self
    }

    /// The instance as operators see it, folded from its records.
    #[track_caller]
    pub fn view(&self) -> SagaView<S> {
        self.replayed().into_view()
    }

    /// The fixture's time now.
    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    #[track_caller]
    fn instance(&self) -> &Instance<S> {
        self.instance
            .as_ref()
            .unwrap_or_else(|| panic!("saga `{}` has no instance: no event started one", S::NAME))
    }

    #[track_caller]
    fn handle<E: Event>(&mut self, event: &E) {
        let metadata = Metadata {
            correlation_id: Some(self.correlation),
            ..Metadata::default()
        };
        let recorded = self.log.record("given", event, metadata, self.now);
        let route = S::route(&recorded)
            .unwrap_or_else(|error| panic!("saga `{}` cannot route the event: {error}", S::NAME));
        let Some(route) = route else {
            return;
        };
        match &self.instance {
            None if !route.starts => return,
            None => self.instance = Some(Instance::new(&route.instance)),
            Some(instance) if instance.id != route.instance => panic!(
                "the event is for instance `{}`, the fixture follows `{}`",
                route.instance, instance.id
            ),
            Some(_) => {}
        }
        let now = self.now;
        let instance = self.instance.as_mut().expect("an instance");
        if instance.status.is_finished() {
            return;
        }
        instance
            .react(&recorded, now)
            .unwrap_or_else(|error| panic!("saga `{}` cannot react: {error}", S::NAME));
        self.drive();
    }

    #[track_caller]
    fn operate(mut self, action: OperatorAction, name: &str) -> Self {
        self.performed.clear();
        let instance = self.instance.as_mut().expect("an instance");
        assert!(
            instance.operate(action),
            "an operator cannot {name} saga `{}`: it is {:?}",
            S::NAME,
            instance.status
        );
        self.drive();
        self
    }

    /// Performs the plan as far as it goes at `now`, answering each step as scripted,
    /// then saves the records and folds the stream again.
    #[track_caller]
    fn drive(&mut self) {
        let now = self.now;
        let instance = self.instance.as_mut().expect("an instance");
        loop {
            match instance.next(now) {
                Next::Perform {
                    no,
                    step,
                    compensating,
                    ..
                } => {
                    let result = match self.answers.iter_mut().find(|(s, _)| *s == step) {
                        Some((_, results)) if results.len() > 1 => {
                            results.pop_front().expect("an answer")
                        }
                        Some((_, results)) => results[0].clone(),
                        None => Ok(StepOutput::none()),
                    };
                    self.performed.push(step.clone());
                    // A failure that is retried starts a pause: only time moves it on.
                    instance
                        .performed(no, &step, compensating, result, &self.options, now)
                        .unwrap_or_else(|error| panic!("{error}"));
                }
                Next::Deadline(name) => instance
                    .fire_deadline(&name, now)
                    .unwrap_or_else(|error| panic!("{error}")),
                Next::Wait(_) | Next::Stuck | Next::Finished => break,
            }
        }
        self.save();
    }

    /// Appends the unsaved records to the history, and replaces the instance by the fold
    /// of its whole history.
    #[track_caller]
    fn save(&mut self) {
        let instance = self.instance.as_mut().expect("an instance");
        if !instance.unsaved.is_empty() {
            let new = record::to_new_event(&instance.unsaved, instance.metadata())
                .unwrap_or_else(|error| panic!("saga `{}`: {error}", S::NAME));
            let version = self.history.len() as u64 + 1;
            let stream = S::stream_id(&instance.id);
            self.history
                .push(new.into_recorded(version, &stream, version, self.now));
        }
        self.instance = Some(self.replayed());
    }

    #[track_caller]
    fn replayed(&self) -> Instance<S> {
        let mut replayed = Instance::new(&self.instance().id);
        replayed.fold(&self.history).unwrap_or_else(|error| {
            panic!("saga `{}`: its records do not replay: {error}", S::NAME)
        });
        replayed
    }
}
