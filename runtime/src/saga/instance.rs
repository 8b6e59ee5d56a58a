//! One saga instance as its stream folds: the state, the queue of planned actions, the
//! compensations pushed, retries, deadlines and where it stands. Pure: the runner and the
//! test fixture drive it, and a crash resumes by folding the stream again.

use std::collections::{BTreeMap, HashSet, VecDeque};

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::options::{Retries, SagaOptions};
use super::plan::{Action, DeadlineChange, Plan};
use super::record::{self, Input, OperatorAction, SagaRecord};
use super::steps::{StepError, StepOutput};
use super::{Saga, SagaView};
use crate::event::EventDecodeError;
use crate::store::{Metadata, NewEvent, RecordedEvent};

/// Where a saga instance stands.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SagaStatus {
    /// Performing its plan, or waiting for events or deadlines.
    Running,
    /// Running its compensations, last pushed first, because of `cause`.
    Compensating {
        /// Why: the step that failed, or the reason the saga failed with.
        cause: String,
    },
    /// Done: every step succeeded and the saga completed.
    Completed,
    /// Undone: every compensation ran after `cause`.
    Compensated {
        /// Why the saga compensated.
        cause: String,
    },
    /// A compensation was rejected or kept failing: the instance waits for an operator
    /// (the intervention queue).
    Stuck {
        /// Why the saga was compensating.
        cause: String,
        /// The compensation that is stuck, as its step's `Debug` shows it.
        step: String,
        /// Its last error.
        error: String,
    },
    /// Closed by an operator.
    Resolved,
}

impl SagaStatus {
    /// Whether the instance is over: completed, compensated or resolved.
    pub fn is_finished(&self) -> bool {
        matches!(
            self,
            SagaStatus::Completed | SagaStatus::Compensated { .. } | SagaStatus::Resolved
        )
    }
}

/// A planned action in the queue, with its number (and its compensation's).
#[derive(Debug, Clone)]
struct Queued<Step> {
    no: u64,
    compensation_no: u64,
    action: Action<Step>,
}

/// What an instance does next.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Next<Step> {
    /// Perform step (or compensation) `no`; `failures` tries failed before.
    Perform {
        no: u64,
        step: Step,
        compensating: bool,
        failures: u32,
    },
    /// Deadline `name` has passed: react to it.
    Deadline(String),
    /// Nothing until `Some(time)` (a retry, a deadline) or an event (`None`).
    Wait(Option<DateTime<Utc>>),
    /// Waits for an operator.
    Stuck,
    /// Over.
    Finished,
}

/// A saga instance.
pub(crate) struct Instance<S: Saga> {
    pub(crate) id: String,
    /// The version of its stream up to the saved records.
    pub(crate) version: u64,
    pub(crate) state: S,
    pub(crate) status: SagaStatus,
    /// The correlation id of the event that started it.
    pub(crate) correlation: Option<Uuid>,
    /// The last event it handled: the causation of the commands its steps send.
    pub(crate) cause: Option<Uuid>,
    next_no: u64,
    queue: VecDeque<Queued<S::Step>>,
    compensations: Vec<(u64, S::Step)>,
    failures: u32,
    retry_at: Option<DateTime<Utc>>,
    deadlines: BTreeMap<String, DateTime<Utc>>,
    handled: HashSet<Uuid>,
    /// Whether it ever waited for time or an operator (and may have an open-saga row).
    pub(crate) timed: bool,
    /// Records made and not yet saved.
    pub(crate) unsaved: Vec<SagaRecord<S::Step>>,
    /// The state as the last record that carries one holds it.
    recorded_state: Option<Value>,
    /// Whether `state` is behind `recorded_state` (during a fold, which decodes it once at
    /// its end).
    state_behind: bool,
}

/// Why an instance cannot go on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InstanceError {
    /// The input event does not decode.
    #[error(transparent)]
    Decode(#[from] EventDecodeError),
    /// The saga's state or step does not encode, or its stream holds a record that does
    /// not decode.
    #[error("saga `{saga}` instance `{instance}`: {reason}")]
    Record {
        /// The saga's name.
        saga: &'static str,
        /// The instance.
        instance: String,
        /// What failed.
        reason: String,
    },
}

impl<S: Saga> Instance<S> {
    /// An instance that has handled nothing.
    pub(crate) fn new(id: &str) -> Self {
        Instance {
            id: id.to_owned(),
            version: 0,
            state: S::default(),
            status: SagaStatus::Running,
            correlation: None,
            cause: None,
            next_no: 1,
            queue: VecDeque::new(),
            compensations: Vec::new(),
            failures: 0,
            retry_at: None,
            deadlines: BTreeMap::new(),
            handled: HashSet::new(),
            timed: false,
            unsaved: Vec::new(),
            recorded_state: None,
            state_behind: false,
        }
    }

    /// Folds the events of its stream (in order) onto this instance; those up to its
    /// version are folded already and skipped.
    pub(crate) fn fold(&mut self, events: &[RecordedEvent]) -> Result<(), InstanceError> {
        for recorded in events {
            if recorded.stream_version <= self.version {
                // Folded already.
                continue;
            }
            let records = record::from_recorded(recorded).map_err(|error| {
                self.error(format!(
                    "the records at version {} of `{}` do not decode: {error}",
                    recorded.stream_version, recorded.stream_id
                ))
            })?;
            for record in &records {
                self.apply(record, true);
            }
            self.version = recorded.stream_version;
        }
        if std::mem::take(&mut self.state_behind)
            && let Some(state) = &self.recorded_state
        {
            self.state = serde_json::from_value(state.clone()).map_err(|error| {
                self.error(format!("the recorded state does not decode: {error}"))
            })?;
        }
        Ok(())
    }

    fn error(&self, reason: String) -> InstanceError {
        InstanceError::Record {
            saga: S::NAME,
            instance: self.id.clone(),
            reason,
        }
    }

    /// Whether it has handled any input (it exists).
    pub(crate) fn started(&self) -> bool {
        self.version > 0 || !self.unsaved.is_empty()
    }

    /// Whether it has handled the event `id`.
    pub(crate) fn has_handled(&self, id: Uuid) -> bool {
        self.handled.contains(&id)
    }

    /// The idempotency key of step `no`.
    pub(crate) fn key(&self, no: u64) -> String {
        format!("{}/{}/{no}", S::NAME, self.id)
    }

    /// The metadata of its records and of the commands its steps send.
    pub(crate) fn metadata(&self) -> Metadata {
        Metadata {
            correlation_id: self.correlation,
            causation_id: self.cause,
            ..Metadata::default()
        }
    }

    /// The unsaved records as the event to append, with the instance's metadata.
    pub(crate) fn unsaved_events(&self) -> Result<Vec<NewEvent>, InstanceError> {
        record::to_new_event(&self.unsaved, self.metadata())
            .map(|event| vec![event])
            .map_err(|error| self.error(format!("the records do not encode: {error}")))
    }

    /// What operators and tests see of it.
    pub(crate) fn into_view(self) -> SagaView<S> {
        SagaView {
            status: self.status.clone(),
            pending: self.pending().cloned().collect(),
            compensations: self.compensations().cloned().collect(),
            deadlines: self.deadlines().clone(),
            version: self.version,
            instance: self.id,
            state: self.state,
        }
    }

    /// The compensations pushed, the next to run first.
    pub(crate) fn compensations(&self) -> impl Iterator<Item = &S::Step> {
        self.compensations.iter().rev().map(|(_, step)| step)
    }

    /// The steps planned and not yet done, in order.
    pub(crate) fn pending(&self) -> impl Iterator<Item = &S::Step> {
        self.queue.iter().filter_map(|queued| match &queued.action {
            Action::Step { step, .. } => Some(step),
            _ => None,
        })
    }

    /// The deadlines set, by name.
    pub(crate) fn deadlines(&self) -> &BTreeMap<String, DateTime<Utc>> {
        &self.deadlines
    }

    /// What to do at `now`.
    pub(crate) fn next(&self, now: DateTime<Utc>) -> Next<S::Step> {
        match &self.status {
            status if status.is_finished() => return Next::Finished,
            SagaStatus::Stuck { .. } => return Next::Stuck,
            _ => {}
        }
        let running = self.status == SagaStatus::Running;
        if running && let Some((name, _)) = self.deadlines.iter().find(|(_, at)| **at <= now) {
            return Next::Deadline(name.clone());
        }
        let soonest_deadline = self.deadlines.values().min().copied().filter(|_| running);
        if let Some(at) = self.retry_at.filter(|at| *at > now) {
            return Next::Wait(Some(soonest_deadline.map_or(at, |d| d.min(at))));
        }
        let work = if running {
            self.queue.front().and_then(|queued| match &queued.action {
                Action::Step { step, .. } => Some((queued.no, step.clone(), false)),
                _ => None,
            })
        } else {
            self.compensations
                .last()
                .map(|(no, step)| (*no, step.clone(), true))
        };
        match work {
            Some((no, step, compensating)) => Next::Perform {
                no,
                step,
                compensating,
                failures: self.failures,
            },
            None => Next::Wait(soonest_deadline),
        }
    }

    /// When it must be looked at again without an event, if it waits at all: the open-saga
    /// row the runner keeps (`None` inside: it waits for an operator).
    pub(crate) fn wake_at(&self, now: DateTime<Utc>) -> Option<Option<DateTime<Utc>>> {
        match self.next(now) {
            Next::Wait(Some(at)) => Some(Some(at)),
            Next::Stuck => Some(None),
            Next::Perform { .. } | Next::Deadline(_) => Some(Some(now)),
            Next::Wait(None) | Next::Finished => None,
        }
    }

    /// Reacts to `recorded` (an event it consumes) at `now`.
    pub(crate) fn react(
        &mut self,
        recorded: &RecordedEvent,
        now: DateTime<Utc>,
    ) -> Result<(), InstanceError> {
        let mut plan = Plan::new(now);
        self.state.react_recorded(recorded, &mut plan)?;
        let input = Input::Event {
            id: recorded.event_id,
            position: recorded.position,
            event_type: recorded.event_type.clone(),
            correlation: recorded.metadata.correlation_id,
        };
        self.record_reaction(input, plan)
    }

    /// Reacts to deadline `name` having passed, at `now`.
    pub(crate) fn fire_deadline(
        &mut self,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<(), InstanceError> {
        let mut plan = Plan::new(now);
        self.state.on_deadline(name, &mut plan);
        self.record_reaction(
            Input::Deadline {
                name: name.to_owned(),
            },
            plan,
        )
    }

    fn record_reaction(&mut self, input: Input, plan: Plan<S::Step>) -> Result<(), InstanceError> {
        let state = self.state_value()?;
        self.record(SagaRecord::Reacted {
            input,
            state,
            actions: plan.actions,
            deadlines: plan.deadlines,
        });
        Ok(())
    }

    fn state_value(&self) -> Result<Value, InstanceError> {
        serde_json::to_value(&self.state)
            .map_err(|error| self.error(format!("the state does not encode: {error}")))
    }

    /// Step (or compensation) `no` ended with `result` at `now`: done, or failed and
    /// retried (or given up) by the retries `options` give its kind.
    pub(crate) fn performed(
        &mut self,
        no: u64,
        step: &S::Step,
        compensating: bool,
        result: Result<StepOutput, StepError>,
        options: &SagaOptions,
        now: DateTime<Utc>,
    ) -> Result<(), InstanceError> {
        match result {
            Ok(output) => self.done(no, step, compensating, output, now),
            Err(error) => {
                let retries = if compensating {
                    &options.compensation_retries
                } else {
                    &options.step_retries
                };
                self.failed(no, error, retries, now);
                Ok(())
            }
        }
    }

    /// Step (or compensation) `no` succeeded with `output`, at `now`.
    pub(crate) fn done(
        &mut self,
        no: u64,
        step: &S::Step,
        compensating: bool,
        output: StepOutput,
        now: DateTime<Utc>,
    ) -> Result<(), InstanceError> {
        let (state, actions, deadlines) = if compensating {
            (None, Vec::new(), Vec::new())
        } else {
            let mut plan = Plan::new(now);
            self.state.on_done(step, &output, &mut plan);
            // Recorded only when `on_done` changed it.
            let state = Some(self.state_value()?)
                .filter(|state| Some(state) != self.recorded_state.as_ref());
            (state, plan.actions, plan.deadlines)
        };
        self.record(SagaRecord::Done {
            no,
            output: output.0,
            state,
            actions,
            deadlines,
        });
        Ok(())
    }

    /// Step (or compensation) `no` failed with `error` after `failures` earlier failures,
    /// at `now`: try again after a pause, or give up.
    pub(crate) fn failed(
        &mut self,
        no: u64,
        error: StepError,
        retries: &Retries,
        now: DateTime<Utc>,
    ) {
        let attempt = self.failures + 1;
        let record = match error {
            StepError::Failed(error) if attempt < retries.tries => {
                let pause = chrono::Duration::from_std(retries.pause_after(attempt))
                    .unwrap_or(chrono::Duration::MAX);
                SagaRecord::AttemptFailed {
                    no,
                    attempt,
                    error,
                    retry_at: now + pause,
                }
            }
            StepError::Failed(error) => SagaRecord::GaveUp {
                no,
                error: format!("failed {attempt} times; last: {error}"),
                rejected: false,
            },
            StepError::Rejected(error) => SagaRecord::GaveUp {
                no,
                error: format!("rejected: {error}"),
                rejected: true,
            },
        };
        self.record(record);
    }

    /// An operator's action; `false` (and nothing recorded) when it does not apply: only
    /// a stuck instance is retried or skipped, a finished one is not resolved.
    pub(crate) fn operate(&mut self, action: OperatorAction) -> bool {
        let applies = match action {
            OperatorAction::Retry | OperatorAction::Skip => {
                matches!(self.status, SagaStatus::Stuck { .. })
            }
            OperatorAction::Resolve => !self.status.is_finished(),
        };
        if applies {
            self.record(SagaRecord::Operator { action });
        }
        applies
    }

    /// Applies a new record and keeps it to save.
    fn record(&mut self, record: SagaRecord<S::Step>) {
        self.apply(&record, false);
        self.unsaved.push(record);
    }

    /// Applies one record; `folding` when it comes from the stream (its state is then
    /// taken from it).
    fn apply(&mut self, record: &SagaRecord<S::Step>, folding: bool) {
        match record {
            SagaRecord::Reacted {
                input,
                state,
                actions,
                deadlines,
            } => {
                match input {
                    Input::Event {
                        id, correlation, ..
                    } => {
                        self.handled.insert(*id);
                        self.cause = Some(*id);
                        if self.correlation.is_none() {
                            self.correlation = Some(correlation.unwrap_or(*id));
                        }
                    }
                    Input::Deadline { name } => {
                        self.deadlines.remove(name);
                    }
                }
                self.recorded_state = Some(state.clone());
                self.state_behind |= folding;
                self.change_deadlines(deadlines);
                for action in actions {
                    let queued = self.number(action.clone());
                    self.queue.push_back(queued);
                }
            }
            SagaRecord::Done {
                no,
                state,
                actions,
                deadlines,
                ..
            } => {
                self.failures = 0;
                self.retry_at = None;
                if self.status == SagaStatus::Running {
                    if self.queue.front().is_some_and(|queued| queued.no == *no) {
                        let queued = self.queue.pop_front().expect("the head was just seen");
                        if let Action::Step {
                            compensation: Some(compensation),
                            ..
                        } = queued.action
                        {
                            self.compensations
                                .push((queued.compensation_no, compensation));
                        }
                    }
                    if let Some(state) = state {
                        self.recorded_state = Some(state.clone());
                        self.state_behind |= folding;
                    }
                    self.change_deadlines(deadlines);
                    for action in actions.iter().rev() {
                        let queued = self.number(action.clone());
                        self.queue.push_front(queued);
                    }
                } else if self.compensations.last().is_some_and(|(top, _)| top == no) {
                    self.compensations.pop();
                }
            }
            SagaRecord::AttemptFailed {
                attempt, retry_at, ..
            } => {
                self.failures = *attempt;
                self.retry_at = Some(*retry_at);
                self.timed = true;
            }
            SagaRecord::GaveUp { no, error, .. } => {
                self.failures = 0;
                self.retry_at = None;
                match &self.status {
                    SagaStatus::Running => {
                        let step = self
                            .queue
                            .front()
                            .filter(|queued| queued.no == *no)
                            .map(|queued| match &queued.action {
                                Action::Step { step, .. } => format!("{step:?}"),
                                _ => String::new(),
                            })
                            .unwrap_or_default();
                        self.queue.clear();
                        self.status = SagaStatus::Compensating {
                            cause: format!("step {no} {step} {error}"),
                        };
                    }
                    SagaStatus::Compensating { cause } => {
                        let step = self
                            .compensations
                            .last()
                            .map(|(_, step)| format!("{step:?}"))
                            .unwrap_or_default();
                        self.status = SagaStatus::Stuck {
                            cause: cause.clone(),
                            step,
                            error: error.clone(),
                        };
                        self.timed = true;
                    }
                    _ => {}
                }
            }
            SagaRecord::Operator { action } => {
                self.failures = 0;
                self.retry_at = None;
                self.timed = true;
                match (action, &self.status) {
                    (OperatorAction::Retry, SagaStatus::Stuck { cause, .. }) => {
                        self.status = SagaStatus::Compensating {
                            cause: cause.clone(),
                        };
                    }
                    (OperatorAction::Skip, SagaStatus::Stuck { cause, .. }) => {
                        self.status = SagaStatus::Compensating {
                            cause: cause.clone(),
                        };
                        self.compensations.pop();
                    }
                    (OperatorAction::Resolve, _) => {
                        self.status = SagaStatus::Resolved;
                        self.queue.clear();
                        self.compensations.clear();
                        self.deadlines.clear();
                    }
                    _ => {}
                }
            }
        }
        self.settle();
    }

    /// Numbers an action: a step and its compensation take one number each.
    fn number(&mut self, action: Action<S::Step>) -> Queued<S::Step> {
        let no = self.next_no;
        let taken = match &action {
            Action::Step { .. } => 2,
            Action::Compensation { .. } => 1,
            Action::Complete | Action::Fail { .. } => 0,
        };
        self.next_no += taken;
        Queued {
            no,
            compensation_no: no + 1,
            action,
        }
    }

    fn change_deadlines(&mut self, changes: &[DeadlineChange]) {
        for change in changes {
            match change {
                DeadlineChange::Set { name, at } => {
                    self.deadlines.insert(name.clone(), *at);
                    self.timed = true;
                }
                DeadlineChange::Cancel { name } => {
                    self.deadlines.remove(name);
                }
            }
        }
    }

    /// Runs the actions at the head of the queue that perform nothing: compensations to
    /// push, completion, failure; and ends a compensation with nothing left to run.
    fn settle(&mut self) {
        while self.status == SagaStatus::Running {
            let Some(queued) = self.queue.front() else {
                break;
            };
            match &queued.action {
                Action::Step { .. } => break,
                Action::Compensation { step } => {
                    self.compensations.push((queued.no, step.clone()));
                }
                Action::Complete => {
                    self.status = SagaStatus::Completed;
                    self.queue.clear();
                    self.compensations.clear();
                    self.deadlines.clear();
                    break;
                }
                Action::Fail { reason } => {
                    self.status = SagaStatus::Compensating {
                        cause: reason.clone(),
                    };
                    self.queue.clear();
                    break;
                }
            }
            self.queue.pop_front();
        }
        if let SagaStatus::Compensating { cause } = &self.status
            && self.compensations.is_empty()
        {
            self.status = SagaStatus::Compensated {
                cause: cause.clone(),
            };
            self.deadlines.clear();
        }
    }
}
