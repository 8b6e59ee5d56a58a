//! The given/when/then fixture for sagas: what a saga performs and where it stands after
//! events, time and operators' actions, with scripted step answers, no store and no runner.

mod sagas;

use std::time::Duration;

use annals::saga::{Retries, SagaOptions, SagaStatus, StepError, StepOutput};
use annals::testing::SagaFixture;
use sagas::{Booking, Trip, TripAbandoned, TripPaid, TripStep, requested};

use Booking::{Car, Flight, Hotel};
use TripStep::{Book, Cancel, Confirm};

fn paid(trip: &str) -> TripPaid {
    TripPaid { trip: trip.into() }
}

fn fixture() -> SagaFixture<Trip> {
    SagaFixture::new().with_options(
        SagaOptions::default()
            .with_step_retries(Retries::new(3, Duration::from_secs(1)))
            .with_compensation_retries(Retries::new(2, Duration::from_secs(1))),
    )
}

/// Every step succeeds: performed in order, and the saga completes.
#[test]
fn a_saga_whose_steps_succeed_completes() {
    fixture()
        .when(requested("t1", 0))
        .then_performed([Book(Flight), Book(Hotel), Book(Car), Confirm])
        .then_completed();
}

/// A step's scripted output reaches the state through `on_done`.
#[test]
fn a_step_output_reaches_the_state() {
    fixture()
        .answers(Book(Hotel), [Ok(StepOutput::json(&"H-7"))])
        .when(requested("t1", 0))
        .then(|view| assert_eq!(view.state.references["Hotel"], "H-7"));
}

/// A rejected step compensates what was done, last done first.
#[test]
fn a_rejected_step_compensates_last_done_first() {
    fixture()
        .answers(Book(Car), [Err(StepError::rejected("no cars"))])
        .when(requested("t1", 0))
        .then_performed([
            Book(Flight),
            Book(Hotel),
            Book(Car),
            Cancel(Hotel),
            Cancel(Flight),
        ])
        .then_compensated();
}

/// A failing step waits for its pause: nothing happens until time passes, then it is
/// tried again and the saga goes on.
#[test]
fn a_failing_step_is_tried_again_when_its_pause_is_over() {
    fixture()
        .answers(
            Book(Hotel),
            [
                Err(StepError::failed("agency down")),
                Ok(StepOutput::none()),
            ],
        )
        .when(requested("t1", 0))
        .then_performed([Book(Flight), Book(Hotel)])
        .then_status(SagaStatus::Running)
        .when_time_passes(Duration::from_millis(999))
        .then_performed([])
        .when_time_passes(Duration::from_millis(1))
        .then_performed([Book(Hotel), Book(Car), Confirm])
        .then_completed();
}

/// Time passing over several pauses tries at each one's end: a step failing for good
/// gives up after its tries and the saga compensates.
#[test]
fn a_step_failing_for_good_gives_up_after_its_tries() {
    fixture()
        .answers(Book(Hotel), [Err(StepError::failed("agency down"))])
        .when(requested("t1", 0))
        .when_time_passes(Duration::from_secs(60))
        .then_performed([Book(Hotel), Book(Hotel), Cancel(Flight)])
        .then_compensated();
}

/// A compensation that keeps failing leaves the saga stuck on it; an operator's retry,
/// once it succeeds, finishes compensating.
#[test]
fn a_stuck_compensation_is_retried_by_an_operator() {
    fixture()
        .answers(Book(Car), [Err(StepError::rejected("no cars"))])
        .answers(
            Cancel(Hotel),
            [
                Err(StepError::failed("agency down")),
                Err(StepError::failed("agency down")),
                Ok(StepOutput::none()),
            ],
        )
        .when(requested("t1", 0))
        .when_time_passes(Duration::from_secs(60))
        .then_stuck_on(Cancel(Hotel))
        .when_operator_retries()
        .then_performed([Cancel(Hotel), Cancel(Flight)])
        .then_compensated();
}

/// An operator skips a stuck compensation: the next one runs.
#[test]
fn an_operator_skips_a_stuck_compensation() {
    fixture()
        .answers(Book(Car), [Err(StepError::rejected("no cars"))])
        .answers(Cancel(Hotel), [Err(StepError::rejected("no such booking"))])
        .when(requested("t1", 0))
        .then_stuck_on(Cancel(Hotel))
        .when_operator_skips()
        .then_performed([Cancel(Flight)])
        .then_compensated();
}

/// An operator resolves a stuck saga: nothing more runs.
#[test]
fn an_operator_resolves_a_stuck_saga() {
    fixture()
        .answers(Book(Car), [Err(StepError::rejected("no cars"))])
        .answers(Cancel(Hotel), [Err(StepError::rejected("no such booking"))])
        .when(requested("t1", 0))
        .when_operator_resolves()
        .then_performed([])
        .then_status(SagaStatus::Resolved);
}

/// A deadline passes: the saga compensates at its time, not before.
#[test]
fn a_passed_deadline_compensates() {
    fixture()
        .when(requested("t1", 15))
        .then(|view| assert!(view.deadlines.contains_key("payment")))
        .when_time_passes(Duration::from_secs(15 * 60 - 1))
        .then_performed([])
        .when_time_passes(Duration::from_secs(1))
        .then_performed([Cancel(Car), Cancel(Hotel), Cancel(Flight)])
        .then_compensated();
}

/// An event met before its deadline: the saga completes and the deadline never fires.
#[test]
fn a_met_deadline_does_not_fire() {
    fixture()
        .given([requested("t1", 15)])
        .when(sagas::TripEvent::from(paid("t1")))
        .then_completed()
        .then(|view| assert!(view.deadlines.is_empty()))
        .when_time_passes(Duration::from_secs(3600))
        .then_performed([]);
}

/// An event that finds no instance and does not start one is skipped.
#[test]
fn an_event_without_an_instance_is_skipped() {
    let fixture = fixture().when(sagas::TripEvent::from(paid("t1")));
    let started = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fixture.view()));
    assert!(started.is_err(), "no instance was started");
}

/// An event for a finished instance is ignored.
#[test]
fn an_event_for_a_finished_saga_is_ignored() {
    fixture()
        .given([requested("t1", 0)])
        .when(sagas::TripEvent::from(TripAbandoned { trip: "t1".into() }))
        .then_performed([])
        .then_completed();
}

/// An expectation that does not hold fails the test with what happened.
#[test]
#[should_panic(expected = "performed [Book(Flight), Book(Hotel), Book(Car), Confirm]")]
fn a_wrong_expectation_says_what_was_performed() {
    fixture()
        .when(requested("t1", 0))
        .then_performed([Book(Flight)]);
}

/// The fixture shows the state a restarted runner would fold from the saga's records: a
/// field the state does not serialize is lost there, and so here.
#[test]
fn the_state_is_what_the_records_replay() {
    use annals::saga::{Plan, React, StepContext, Steps};
    use annals::{Event, Recorded};
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
    struct Pinged {
        id: String,
    }
    #[derive(Event, Clone, Debug, PartialEq)]
    enum PingEvent {
        Pinged(Pinged),
    }
    #[derive(annals::saga::Saga, Default, Serialize, Deserialize)]
    #[saga(starts(PingEvent), id = id)]
    struct Forgetful {
        kept: u32,
        #[serde(skip)]
        forgotten: u32,
    }
    impl React<Pinged> for Forgetful {
        fn react(&mut self, _: Recorded<'_, Pinged>, _: &mut Plan<()>) {
            self.kept += 1;
            self.forgotten += 1;
        }
    }
    #[annals::async_trait]
    impl Steps for Forgetful {
        type Step = ();
        type Services = ();
        async fn perform(_: &(), _: &StepContext<'_, ()>) -> Result<StepOutput, StepError> {
            Ok(StepOutput::none())
        }
    }

    SagaFixture::<Forgetful>::new()
        .when(PingEvent::Pinged(Pinged { id: "p".into() }))
        .then(|view| assert_eq!((view.state.kept, view.state.forgotten), (1, 0)));
}
