//! A trip-booking saga for the saga tests: three bookings at an agency (flight, hotel, car),
//! each cancelled by a compensation, a payment deadline, and an agency whose answers the
//! tests script (reject a booking, fail it a number of times) and which counts each effect
//! per idempotency key.

#![allow(dead_code)]

pub mod hooked;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use annals::saga::{
    Plan, React, Retries, Saga, SagaOptions, SagaStatus, SagaView, Sagas, StepContext, StepError,
    StepOutput, Steps,
};
use annals::store::{EventStore, ExpectedVersion, Metadata, SagaStore};
use annals::{Event, Recorded};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct TripRequested {
    pub trip: String,
    /// Pay within this many minutes, or the trip is cancelled.
    pub pay_within_minutes: i64,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct TripPaid {
    pub trip: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct TripAbandoned {
    pub trip: String,
}

#[derive(Event, Clone, Debug, PartialEq, Eq)]
pub enum TripEvent {
    Requested(TripRequested),
    Paid(TripPaid),
    Abandoned(TripAbandoned),
}

#[derive(annals::saga::Saga, Default, Serialize, Deserialize, Debug, PartialEq, Eq)]
#[saga(name = "trip", starts(TripEvent::{Requested}), events(TripEvent::{Paid, Abandoned}), id = trip)]
pub struct Trip {
    pub trip: String,
    pub paid: bool,
    /// The booking references the agency returned, by step.
    pub references: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Booking {
    Flight,
    Hotel,
    Car,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum TripStep {
    Book(Booking),
    Cancel(Booking),
    /// A step with no compensation (a confirmation e-mail).
    Confirm,
}

impl React<TripRequested> for Trip {
    fn react(&mut self, event: Recorded<'_, TripRequested>, plan: &mut Plan<TripStep>) {
        self.trip = event.trip.clone();
        for booking in [Booking::Flight, Booking::Hotel, Booking::Car] {
            plan.step(TripStep::Book(booking.clone()))
                .compensated_by(TripStep::Cancel(booking));
        }
        plan.step(TripStep::Confirm);
        if event.pay_within_minutes > 0 {
            plan.deadline(
                "payment",
                chrono::Duration::minutes(event.pay_within_minutes),
            );
        } else {
            plan.complete();
        }
    }
}

impl React<TripPaid> for Trip {
    fn react(&mut self, _: Recorded<'_, TripPaid>, plan: &mut Plan<TripStep>) {
        self.paid = true;
        plan.cancel_deadline("payment");
        plan.complete();
    }
}

impl React<TripAbandoned> for Trip {
    fn react(&mut self, _: Recorded<'_, TripAbandoned>, plan: &mut Plan<TripStep>) {
        plan.fail("the traveller abandoned the trip");
    }
}

/// How the agency answers a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Refuse it for good.
    Reject,
    /// Fail it this many more times, then succeed.
    Fail(u32),
}

/// The outside service: books and cancels, once per key, as the tests script it.
///
/// A persistent agency ([`Agency::persistent`]) also writes each call and effect to a
/// journal file and starts from what the file holds, so processes that follow one another
/// (one killed, the next resuming) share its books. It can be told to halt at a moment of
/// a step ([`Agency::halt_at`]): it writes a marker file there and hangs, for the test to
/// SIGKILL the process at that point.
#[derive(Debug, Default)]
pub struct Agency {
    inner: Mutex<AgencyState>,
    journal: Option<std::path::PathBuf>,
    halt: Option<Halt>,
}

/// Where a halting agency stops: at `moment` of `step` for trip `trip`, writing `marker`.
#[derive(Debug, Clone)]
pub struct Halt {
    pub moment: Moment,
    pub trip: String,
    pub step: TripStep,
    pub marker: std::path::PathBuf,
}

/// A moment of a call to the agency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moment {
    /// Called, nothing done yet.
    BeforeEffect,
    /// Done, not yet answered (so not recorded by the saga).
    AfterEffect,
}

#[derive(Debug, Default)]
struct AgencyState {
    /// Each effect, in the order it happened: (step, key).
    effects: Vec<(TripStep, String)>,
    /// Calls per key, effects or not.
    calls: HashMap<String, u32>,
    /// Answers by step, for every trip (`None`) or one.
    answers: HashMap<(Option<String>, TripStep), Answer>,
}

impl std::hash::Hash for TripStep {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        format!("{self:?}").hash(state);
    }
}

impl Agency {
    /// An agency whose books are the journal at `path` (created if missing).
    pub fn persistent(path: &std::path::Path) -> Agency {
        let mut state = AgencyState::default();
        if let Ok(journal) = std::fs::read_to_string(path) {
            for line in journal.lines() {
                let mut fields = line.splitn(3, '\t');
                let (kind, key, step) = (fields.next(), fields.next(), fields.next());
                let (Some(kind), Some(key), Some(step)) = (kind, key, step) else {
                    // A line cut by the kill: the call it began did not happen.
                    continue;
                };
                let Ok(step) = serde_json::from_str::<TripStep>(step) else {
                    continue;
                };
                match kind {
                    "call" => *state.calls.entry(key.to_owned()).or_default() += 1,
                    _ => state.effects.push((step, key.to_owned())),
                }
            }
        }
        Agency {
            inner: Mutex::new(state),
            journal: Some(path.to_owned()),
            halt: None,
        }
    }

    /// Halts (and hangs) at `halt`.
    pub fn halt_at(mut self, halt: Halt) -> Agency {
        self.halt = Some(halt);
        self
    }

    pub fn answer(&self, step: TripStep, answer: Answer) {
        self.lock().answers.insert((None, step), answer);
    }

    /// Answers `step` so for trip `trip` only.
    pub fn answer_for(&self, trip: &str, step: TripStep, answer: Answer) {
        self.lock()
            .answers
            .insert((Some(trip.to_owned()), step), answer);
    }

    pub fn clear_answer(&self, step: &TripStep) {
        self.lock().answers.remove(&(None, step.clone()));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, AgencyState> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The effects for trip `trip`, in order.
    pub fn effects(&self, trip: &str) -> Vec<TripStep> {
        let prefix = format!("trip/{trip}/");
        self.lock()
            .effects
            .iter()
            .filter(|(_, key)| key.starts_with(&prefix))
            .map(|(step, _)| step.clone())
            .collect()
    }

    /// Keys with more than one effect.
    pub fn doubled(&self) -> Vec<String> {
        let mut seen = HashMap::<&str, u32>::new();
        let state = self.lock();
        for (_, key) in &state.effects {
            *seen.entry(key).or_default() += 1;
        }
        seen.into_iter()
            .filter(|(_, count)| *count > 1)
            .map(|(key, _)| key.to_owned())
            .collect()
    }

    pub fn calls(&self, trip: &str) -> u32 {
        let prefix = format!("trip/{trip}/");
        self.lock()
            .calls
            .iter()
            .filter(|(key, _)| key.starts_with(&prefix))
            .map(|(_, calls)| calls)
            .sum()
    }

    /// Appends a line to the journal, if it keeps one.
    fn write(&self, kind: &str, key: &str, step: &TripStep) {
        if let Some(path) = &self.journal {
            use std::io::Write;
            let line = format!("{kind}\t{key}\t{}\n", serde_json::to_string(step).unwrap());
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .unwrap();
            file.write_all(line.as_bytes()).unwrap();
        }
    }

    /// Hangs here if told to halt at this moment of this step.
    fn maybe_halt(&self, moment: Moment, step: &TripStep, key: &str) {
        if let Some(halt) = &self.halt
            && halt.moment == moment
            && halt.step == *step
            && key.starts_with(&format!("trip/{}/", halt.trip))
        {
            std::fs::write(&halt.marker, key).unwrap();
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }

    fn call(&self, step: &TripStep, key: &str) -> Result<String, StepError> {
        self.maybe_halt(Moment::BeforeEffect, step, key);
        let mut state = self.lock();
        *state.calls.entry(key.to_owned()).or_default() += 1;
        self.write("call", key, step);
        let trip = key.split('/').nth(1).map(str::to_owned);
        let answer = match state.answers.get_mut(&(trip, step.clone())) {
            Some(answer) => Some(answer),
            None => state.answers.get_mut(&(None, step.clone())),
        };
        match answer {
            Some(Answer::Reject) => return Err(StepError::rejected(format!("{step:?} refused"))),
            Some(Answer::Fail(left)) if *left > 0 => {
                *left -= 1;
                return Err(StepError::failed(format!("{step:?}: agency unavailable")));
            }
            _ => {}
        }
        // Once per key: a call with a key seen before has no second effect.
        if !state.effects.iter().any(|(_, seen)| seen == key) {
            state.effects.push((step.clone(), key.to_owned()));
            self.write("effect", key, step);
        }
        drop(state);
        self.maybe_halt(Moment::AfterEffect, step, key);
        Ok(format!("ref-{key}"))
    }
}

#[annals::async_trait]
impl Steps for Trip {
    type Step = TripStep;
    type Services = Arc<Agency>;

    async fn perform(
        step: &TripStep,
        context: &StepContext<'_, Arc<Agency>>,
    ) -> Result<StepOutput, StepError> {
        let reference = context.services().call(step, context.key())?;
        Ok(StepOutput::json(&reference))
    }

    fn on_done(&mut self, step: &TripStep, output: &StepOutput, _: &mut Plan<TripStep>) {
        if let (TripStep::Book(booking), Ok(reference)) = (step, output.decode::<String>()) {
            self.references.insert(format!("{booking:?}"), reference);
        }
    }
}

/// Options for tests: small pauses of the runner, retries counted on the manual clock.
pub fn options() -> SagaOptions {
    SagaOptions::default()
        .with_workers(4)
        .with_poll_interval(Duration::from_millis(20))
        .with_step_retries(Retries::new(3, Duration::from_secs(1)))
        .with_compensation_retries(Retries::new(5, Duration::from_secs(1)))
}

/// Appends a trip event on stream `trip-{id}`; returns its position.
pub async fn record<S: EventStore>(store: &S, event: TripEvent) -> u64 {
    let trip = match &event {
        TripEvent::Requested(e) => e.trip.clone(),
        TripEvent::Paid(e) => e.trip.clone(),
        TripEvent::Abandoned(e) => e.trip.clone(),
    };
    let new = event.to_new_event(Metadata::default()).unwrap();
    store
        .append(&format!("trip-{trip}"), ExpectedVersion::Any, vec![new])
        .await
        .unwrap()
        .last_position()
}

pub fn requested(trip: &str, pay_within_minutes: i64) -> TripEvent {
    TripRequested {
        trip: trip.into(),
        pay_within_minutes,
    }
    .into()
}

/// Waits until instance `id` satisfies `done`, or panics after 10 s with what it is.
pub async fn wait_until<S, St>(
    sagas: &Sagas<S, St>,
    id: &str,
    done: impl Fn(&SagaView<S>) -> bool,
) -> SagaView<S>
where
    S: Saga + std::fmt::Debug,
    St: EventStore + SagaStore,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let view = sagas.load(id).await.unwrap();
        if let Some(view) = view {
            if done(&view) {
                return view;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("instance `{id}` did not get there: {view:?}");
            }
        } else if tokio::time::Instant::now() > deadline {
            panic!("instance `{id}` never started");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub fn is(status: SagaStatus) -> impl Fn(&SagaView<Trip>) -> bool {
    move |view| view.status == status
}

/// Whether the trip compensated, whatever the cause.
pub fn compensated(view: &SagaView<Trip>) -> bool {
    matches!(view.status, SagaStatus::Compensated { .. })
}
