//! What a reaction decides: the saga's next actions.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// What a reaction decides, in order: steps to perform (each with the compensation that
/// undoes it), compensations to push, completion or failure; and deadlines to set or
/// cancel (which take effect at once).
///
/// ```
/// use annals::saga::Plan;
///
/// #[derive(Debug, Clone, PartialEq)]
/// enum Step { Debit, Credit, Refund }
///
/// let now = annals::Utc::now();
/// let mut plan = Plan::new(now);
/// plan.step(Step::Debit).compensated_by(Step::Refund);
/// plan.step(Step::Credit);
/// plan.complete();
/// plan.deadline("transfer", chrono::Duration::minutes(15));
/// assert_eq!(plan.steps(), [&Step::Debit, &Step::Credit]);
/// assert!(plan.completes());
/// ```
#[derive(Debug, Clone)]
pub struct Plan<Step> {
    now: DateTime<Utc>,
    pub(crate) actions: Vec<Action<Step>>,
    pub(crate) deadlines: Vec<DeadlineChange>,
}

/// One planned action, as the saga's stream records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "do", rename_all = "snake_case")]
#[serde(bound(serialize = "Step: Serialize", deserialize = "Step: Deserialize<'de>"))]
pub(crate) enum Action<Step> {
    /// Perform `step`; once it succeeds, push `compensation`.
    Step {
        step: Step,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        compensation: Option<Step>,
    },
    /// Push `step` on the compensations, for something already done.
    Compensation { step: Step },
    /// The saga is done: no compensation will run.
    Complete,
    /// Undo what was done: run the pushed compensations.
    Fail { reason: String },
}

/// A deadline set or cancelled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "deadline", rename_all = "snake_case")]
pub(crate) enum DeadlineChange {
    Set { name: String, at: DateTime<Utc> },
    Cancel { name: String },
}

impl<Step> Plan<Step> {
    /// An empty plan made at `now`.
    pub fn new(now: DateTime<Utc>) -> Self {
        Plan {
            now,
            actions: Vec::new(),
            deadlines: Vec::new(),
        }
    }

    /// The time the plan is made at: what deadlines count from.
    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    /// Performs `step` after the actions planned before it; chain
    /// [`compensated_by`](PlannedStep::compensated_by) to say how it is undone.
    pub fn step(&mut self, step: Step) -> PlannedStep<'_, Step> {
        self.actions.push(Action::Step {
            step,
            compensation: None,
        });
        let Some(Action::Step { compensation, .. }) = self.actions.last_mut() else {
            unreachable!("a step was just pushed")
        };
        PlannedStep { compensation }
    }

    /// Pushes `step` on the compensations (after the actions planned before it): for
    /// something done before the saga started, such as the order that started it.
    pub fn compensation(&mut self, step: Step) {
        self.actions.push(Action::Compensation { step });
    }

    /// Completes the saga once the actions planned before are done.
    pub fn complete(&mut self) {
        self.actions.push(Action::Complete);
    }

    /// Fails the saga once the actions planned before are done: the pushed compensations
    /// run, last pushed first.
    pub fn fail(&mut self, reason: impl Into<String>) {
        self.actions.push(Action::Fail {
            reason: reason.into(),
        });
    }

    /// Sets deadline `name` to `after` from [`now`](Plan::now) (replacing one of that
    /// name): when it passes, [`Steps::on_deadline`](super::Steps::on_deadline) runs.
    pub fn deadline(&mut self, name: impl Into<String>, after: Duration) {
        self.deadlines.push(DeadlineChange::Set {
            name: name.into(),
            at: self.now + after,
        });
    }

    /// Cancels deadline `name` (met: it will not fire).
    pub fn cancel_deadline(&mut self, name: impl Into<String>) {
        self.deadlines
            .push(DeadlineChange::Cancel { name: name.into() });
    }

    /// The steps planned, in order.
    pub fn steps(&self) -> Vec<&Step> {
        self.actions
            .iter()
            .filter_map(|action| match action {
                Action::Step { step, .. } => Some(step),
                _ => None,
            })
            .collect()
    }

    /// Whether the plan completes the saga.
    pub fn completes(&self) -> bool {
        self.actions
            .iter()
            .any(|action| matches!(action, Action::Complete))
    }

    /// Whether nothing is planned.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty() && self.deadlines.is_empty()
    }
}

/// A step just planned.
#[derive(Debug)]
pub struct PlannedStep<'a, Step> {
    compensation: &'a mut Option<Step>,
}

impl<Step> PlannedStep<'_, Step> {
    /// Once the step succeeds, `compensation` is pushed: it runs if the saga fails later.
    pub fn compensated_by(self, compensation: Step) {
        *self.compensation = Some(compensation);
    }
}
