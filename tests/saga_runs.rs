//! Sagas run by the runner on every store: steps in order, compensations last pushed
//! first, retries with backoff on a clock the test moves, the intervention queue and each
//! operator action, deadlines (fired, met, after a restart).

mod sagas;
mod services;

use std::sync::Arc;

use annals::saga::{ManualClock, SagaRunner, SagaRunnerHandle, SagaStatus, Sagas};
use annals::store::{CheckpointStore, EventStore, SagaStore};
use annals::{CommandDispatcher, Event, Utc};
use sagas::{
    Agency, Answer, Booking, Trip, TripStep, compensated, is, options, record, requested,
    wait_until,
};

fn runner<St>(store: &St, agency: &Arc<Agency>, clock: &ManualClock) -> SagaRunnerHandle<Trip, St>
where
    St: EventStore + CheckpointStore + SagaStore + Clone,
{
    SagaRunner::<Trip, _>::new(store.clone(), CommandDispatcher::new(), agency.clone())
        .with_options(options())
        .with_clock(clock.clone())
        .spawn()
}

const WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The runner's clock starts a day behind the wall clock: the operators' actions (taken
/// on the wall clock, as another process would) must reach it all the same.
fn start() -> (Arc<Agency>, ManualClock) {
    (
        Arc::new(Agency::default()),
        ManualClock::starting_at(Utc::now() - chrono::Duration::days(1)),
    )
}

use Booking::{Car, Flight, Hotel};
use TripStep::{Book, Cancel, Confirm};

/// Every step runs once, in the order planned, and the saga completes; the steps' outputs
/// reach the state.
async fn steps_run_in_order_once<St>(store: St)
where
    St: EventStore + CheckpointStore + SagaStore + Clone,
{
    let (agency, clock) = start();
    let handle = runner(&store, &agency, &clock);
    let position = record(&store, requested("t1", 0)).await;
    handle
        .wait_for(position, std::time::Duration::from_secs(10))
        .await
        .unwrap();
    let view = wait_until(&handle.sagas(), "t1", is(SagaStatus::Completed)).await;
    assert_eq!(
        agency.effects("t1"),
        [Book(Flight), Book(Hotel), Book(Car), Confirm]
    );
    assert_eq!(view.state.references["Hotel"], "ref-trip/t1/3");
    assert!(agency.doubled().is_empty());
    handle.stop().await;
}

/// A rejected step starts compensation: what was done is undone, last done first; the
/// rejected step and the steps after it never run.
async fn a_rejected_step_compensates_last_pushed_first<St>(store: St)
where
    St: EventStore + CheckpointStore + SagaStore + Clone,
{
    let (agency, clock) = start();
    agency.answer(Book(Car), Answer::Reject);
    let handle = runner(&store, &agency, &clock);
    record(&store, requested("t2", 0)).await;
    let view = wait_until(&handle.sagas(), "t2", compensated).await;
    assert_eq!(
        agency.effects("t2"),
        [Book(Flight), Book(Hotel), Cancel(Hotel), Cancel(Flight)]
    );
    let SagaStatus::Compensated { cause } = view.status else {
        unreachable!()
    };
    assert!(
        cause.contains("Book(Car)") && cause.contains("refused"),
        "{cause}"
    );
    handle.stop().await;
}

/// A failing step is tried again after 1 s, then 2 s (on the saga's clock); it succeeds on
/// its third try and the saga goes on.
async fn a_failing_step_is_retried_with_backoff<St>(store: St)
where
    St: EventStore + CheckpointStore + SagaStore + Clone,
{
    let (agency, clock) = start();
    agency.answer(Book(Hotel), Answer::Fail(2));
    let handle = runner(&store, &agency, &clock);
    record(&store, requested("t3", 0)).await;
    let sagas = handle.sagas();
    let calls = |n| {
        let agency = agency.clone();
        move |_: &annals::saga::SagaView<Trip>| agency.calls("t3") == n
    };
    // Flight, then the hotel's first try.
    wait_until(&sagas, "t3", calls(2)).await;
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(agency.calls("t3"), 2, "no retry before its time");
    clock.advance(chrono::Duration::milliseconds(1_000));
    wait_until(&sagas, "t3", calls(3)).await;
    clock.advance(chrono::Duration::milliseconds(1_500));
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(agency.calls("t3"), 3, "the second pause is 2 s");
    clock.advance(chrono::Duration::milliseconds(500));
    wait_until(&sagas, "t3", is(SagaStatus::Completed)).await;
    assert_eq!(
        agency.effects("t3"),
        [Book(Flight), Book(Hotel), Book(Car), Confirm]
    );
    handle.stop().await;
}

/// A trip whose car is refused (so it compensates) and whose hotel cancellation answers
/// `cancel_hotel`, run with the clock driven on until it is stuck.
struct StuckTrip<St> {
    agency: Arc<Agency>,
    clock: ManualClock,
    handle: SagaRunnerHandle<Trip, St>,
    sagas: Sagas<Trip, St>,
    view: annals::saga::SagaView<Trip>,
}

async fn stuck_trip<St>(store: &St, trip: &str, cancel_hotel: Answer) -> StuckTrip<St>
where
    St: EventStore + CheckpointStore + SagaStore + Clone,
{
    let (agency, clock) = start();
    agency.answer(Book(Car), Answer::Reject);
    agency.answer(Cancel(Hotel), cancel_hotel);
    let handle = runner(store, &agency, &clock);
    record(store, requested(trip, 0)).await;
    let sagas = handle.sagas();
    for _ in 0..200 {
        if let Some(view) = sagas.load(trip).await.unwrap()
            && matches!(view.status, SagaStatus::Stuck { .. })
        {
            return StuckTrip {
                agency,
                clock,
                handle,
                sagas,
                view,
            };
        }
        clock.advance(chrono::Duration::seconds(20));
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!(
        "instance `{trip}` never got stuck: {:?}",
        sagas.load(trip).await.unwrap()
    );
}

/// A compensation that keeps failing is tried 5 times, then the instance waits in the
/// intervention queue with its state and the error; retried by an operator after the fix,
/// it compensates to the end.
async fn a_failing_compensation_waits_for_an_operator_who_retries<St>(store: St)
where
    St: EventStore + CheckpointStore + SagaStore + Clone,
{
    let StuckTrip {
        agency,
        handle,
        sagas,
        view,
        ..
    } = stuck_trip(&store, "t4", Answer::Fail(1_000)).await;
    let SagaStatus::Stuck { step, error, .. } = &view.status else {
        unreachable!()
    };
    assert_eq!(step, "Cancel(Hotel)");
    assert!(error.contains("failed 5 times"), "{error}");
    assert_eq!(view.compensations, [Cancel(Hotel), Cancel(Flight)]);
    assert_eq!(view.state.references.len(), 2, "the whole state is there");
    let stuck = sagas.stuck().await.unwrap();
    assert_eq!(
        stuck
            .iter()
            .map(|v| v.instance.as_str())
            .collect::<Vec<_>>(),
        ["t4"]
    );
    assert_eq!(
        agency.calls("t4"),
        2 + 1 + 5,
        "two bookings, the refused car, five tries"
    );

    agency.clear_answer(&Cancel(Hotel));
    sagas.retry("t4").await.unwrap();
    wait_until(&sagas, "t4", compensated).await;
    assert_eq!(
        agency.effects("t4"),
        [Book(Flight), Book(Hotel), Cancel(Hotel), Cancel(Flight)]
    );
    assert!(sagas.stuck().await.unwrap().is_empty());
    handle.stop().await;
}

/// An operator skips a stuck compensation (done by hand): the next one runs.
async fn an_operator_skips_a_stuck_compensation<St>(store: St)
where
    St: EventStore + CheckpointStore + SagaStore + Clone,
{
    let StuckTrip {
        agency,
        handle,
        sagas,
        view,
        ..
    } = stuck_trip(&store, "t5", Answer::Reject).await;
    assert!(matches!(&view.status, SagaStatus::Stuck { error, .. } if error.contains("rejected")));
    assert_eq!(
        agency.calls("t5"),
        2 + 1 + 1,
        "a rejected compensation is not retried"
    );
    sagas.skip("t5").await.unwrap();
    wait_until(&sagas, "t5", compensated).await;
    assert_eq!(
        agency.effects("t5"),
        [Book(Flight), Book(Hotel), Cancel(Flight)]
    );
    handle.stop().await;
}

/// An operator resolves a stuck saga: it is closed, nothing more runs, and an action on
/// it now says it does not apply.
async fn an_operator_resolves_a_stuck_saga<St>(store: St)
where
    St: EventStore + CheckpointStore + SagaStore + Clone,
{
    let StuckTrip {
        agency,
        clock,
        handle,
        sagas,
        ..
    } = stuck_trip(&store, "t6", Answer::Reject).await;
    sagas.resolve("t6").await.unwrap();
    wait_until(&sagas, "t6", is(SagaStatus::Resolved)).await;
    clock.advance(chrono::Duration::hours(1));
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(agency.effects("t6"), [Book(Flight), Book(Hotel)]);
    assert!(sagas.stuck().await.unwrap().is_empty());
    let again = sagas.retry("t6").await;
    assert!(
        matches!(
            again,
            Err(annals::saga::OperatorError::NotApplicable { .. })
        ),
        "{again:?}"
    );
    handle.stop().await;
}

/// A deadline that passes fails the saga (its default reaction): the bookings are undone.
async fn a_passed_deadline_compensates<St>(store: St)
where
    St: EventStore + CheckpointStore + SagaStore + Clone,
{
    let (agency, clock) = start();
    let handle = runner(&store, &agency, &clock);
    record(&store, requested("t7", 15)).await;
    let sagas = handle.sagas();
    let view = wait_until(&sagas, "t7", |view| view.pending.is_empty()).await;
    assert_eq!(view.status, SagaStatus::Running, "waiting for the payment");
    clock.advance(chrono::Duration::minutes(14));
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(
        sagas.load("t7").await.unwrap().unwrap().status,
        SagaStatus::Running
    );
    clock.advance(chrono::Duration::minutes(1));
    let view = wait_until(&sagas, "t7", compensated).await;
    assert!(matches!(&view.status, SagaStatus::Compensated { cause } if cause.contains("payment")));
    assert_eq!(
        agency.effects("t7"),
        [
            Book(Flight),
            Book(Hotel),
            Book(Car),
            Confirm,
            Cancel(Car),
            Cancel(Hotel),
            Cancel(Flight)
        ]
    );
    handle.stop().await;
}

/// A deadline met (the payment came) is cancelled: it does not fire later.
async fn a_met_deadline_does_not_fire<St>(store: St)
where
    St: EventStore + CheckpointStore + SagaStore + Clone,
{
    let (agency, clock) = start();
    let handle = runner(&store, &agency, &clock);
    record(&store, requested("t8", 15)).await;
    let sagas = handle.sagas();
    wait_until(&sagas, "t8", |view| view.pending.is_empty()).await;
    record(&store, sagas::TripPaid { trip: "t8".into() }.into()).await;
    wait_until(&sagas, "t8", is(SagaStatus::Completed)).await;
    clock.advance(chrono::Duration::hours(1));
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(
        sagas.load("t8").await.unwrap().unwrap().status,
        SagaStatus::Completed
    );
    assert_eq!(
        agency.effects("t8"),
        [Book(Flight), Book(Hotel), Book(Car), Confirm]
    );
    assert!(
        store
            .open_sagas("trip")
            .await
            .unwrap()
            .iter()
            .all(|open| open.instance != "t8")
    );
    handle.stop().await;
}

/// A deadline set before a restart and met after it leaves no open-saga row behind: the
/// next runner knows from the saga's stream that it had one.
async fn a_deadline_met_after_a_restart_leaves_no_row<St>(store: St)
where
    St: EventStore + CheckpointStore + SagaStore + Clone,
{
    let (agency, clock) = start();
    let handle = runner(&store, &agency, &clock);
    record(&store, requested("t10", 15)).await;
    wait_until(&handle.sagas(), "t10", |view| view.pending.is_empty()).await;
    handle.stop().await;
    let handle = runner(&store, &agency, &clock);
    let paid = record(&store, sagas::TripPaid { trip: "t10".into() }.into()).await;
    handle.wait_for(paid, WAIT).await.unwrap();
    wait_until(&handle.sagas(), "t10", is(SagaStatus::Completed)).await;
    let rows = store.open_sagas("trip").await.unwrap();
    assert!(rows.iter().all(|open| open.instance != "t10"), "{rows:?}");
    handle.stop().await;
}

/// A deadline set before a restart fires in the next runner.
async fn a_deadline_fires_after_a_restart<St>(store: St)
where
    St: EventStore + CheckpointStore + SagaStore + Clone,
{
    let (agency, clock) = start();
    let handle = runner(&store, &agency, &clock);
    record(&store, requested("t9", 15)).await;
    wait_until(&handle.sagas(), "t9", |view| view.pending.is_empty()).await;
    handle.stop().await;
    clock.advance(chrono::Duration::minutes(20));
    let handle = runner(&store, &agency, &clock);
    wait_until(&handle.sagas(), "t9", compensated).await;
    assert!(agency.doubled().is_empty());
    handle.stop().await;
}

/// An event for an instance that does not exist, and does not start one, is skipped.
async fn an_event_without_an_instance_is_skipped<St>(store: St)
where
    St: EventStore + CheckpointStore + SagaStore + Clone,
{
    let (agency, clock) = start();
    let handle = runner(&store, &agency, &clock);
    let position = record(
        &store,
        sagas::TripPaid {
            trip: "nobody".into(),
        }
        .into(),
    )
    .await;
    handle
        .wait_for(position, std::time::Duration::from_secs(10))
        .await
        .unwrap();
    assert!(handle.sagas().load("nobody").await.unwrap().is_none());
    handle.stop().await;
}

store_matrix!([memory, sqlite, postgres] =>
    steps_run_in_order_once,
    a_rejected_step_compensates_last_pushed_first,
    a_failing_step_is_retried_with_backoff,
    a_failing_compensation_waits_for_an_operator_who_retries,
    an_operator_skips_a_stuck_compensation,
    an_operator_resolves_a_stuck_saga,
    a_passed_deadline_compensates,
    a_met_deadline_does_not_fire,
    a_deadline_fires_after_a_restart,
    a_deadline_met_after_a_restart_leaves_no_row,
    an_event_without_an_instance_is_skipped,
    an_operator_action_racing_a_worker_is_not_lost,
    an_input_whose_reaction_cannot_decode_it_stops_the_saga_until_skipped,
    an_input_that_does_not_route_stops_the_saga_until_skipped,
);

/// An operator's action that lands while a worker is looking at the stuck instance is not
/// lost: the store holds the operator's append until the worker has read the stream (so
/// the worker sees the instance stuck), and the worker's "stuck" row until that append is
/// done (so it is written over the operator's "due" row).
async fn an_operator_action_racing_a_worker_is_not_lost<St>(store: St)
where
    St: EventStore + CheckpointStore + SagaStore + Clone,
{
    let store = sagas::hooked::Hooked::new(store, racing::Racing::new());
    let StuckTrip {
        agency,
        handle,
        sagas,
        ..
    } = stuck_trip(&store, "t12", Answer::Reject).await;
    store.hooks().arm();
    sagas.skip("t12").await.unwrap();
    tokio::time::timeout(WAIT, store.hooks().raced())
        .await
        .expect("the operator and the worker did not race");
    wait_until(&sagas, "t12", compensated).await;
    assert_eq!(
        agency.effects("t12"),
        [Book(Flight), Book(Hotel), Cancel(Flight)]
    );
    handle.stop().await;
}

/// Appends a trip request for `trip` whose payload is `payload` instead of its own;
/// returns its position.
async fn record_broken<St: EventStore>(store: &St, trip: &str, payload: &[u8]) -> u64 {
    let mut new = requested(trip, 0)
        .to_new_event(annals::store::Metadata::default())
        .unwrap();
    new.payload = payload.to_vec();
    store
        .append(
            &format!("trip-{trip}"),
            annals::store::ExpectedVersion::Any,
            vec![new],
        )
        .await
        .unwrap()
        .last_position()
}

/// The runner, failing at `poison`, says so; events after it wait until an operator
/// skips it, then are handled; the poisoned instance never starts.
async fn stops_at_until_skipped<St>(store: &St, handle: &SagaRunnerHandle<Trip, St>, poison: u64)
where
    St: EventStore + CheckpointStore + SagaStore + Clone,
{
    let after = record(store, requested("after", 0)).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let annals::saga::SagaRunnerStatus::Failing(failure) = handle.status() {
            assert_eq!(failure.position, poison, "{failure}");
            assert!(failure.to_string().contains("trip-poisoned"), "{failure}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            handle.status()
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(
        handle
            .wait_for(after, std::time::Duration::from_millis(300))
            .await
            .is_err(),
        "nothing after the poisoned input is handled through"
    );
    handle.skip(poison);
    handle.wait_for(after, WAIT).await.unwrap();
    assert_eq!(handle.status(), annals::saga::SagaRunnerStatus::Running);
    assert!(handle.sagas().load("poisoned").await.unwrap().is_none());
    wait_until(&handle.sagas(), "after", is(SagaStatus::Completed)).await;
}

/// An input the saga's reaction cannot decode (a field of the wrong type) stops the
/// runner at it, named in its status, until an operator skips it.
async fn an_input_whose_reaction_cannot_decode_it_stops_the_saga_until_skipped<St>(store: St)
where
    St: EventStore + CheckpointStore + SagaStore + Clone,
{
    let (agency, clock) = start();
    let handle = runner(&store, &agency, &clock);
    let poison = record_broken(
        &store,
        "poisoned",
        br#"{"trip":"poisoned","pay_within_minutes":"soon"}"#,
    )
    .await;
    stops_at_until_skipped(&store, &handle, poison).await;
    handle.stop().await;
}

/// An input whose payload has no id and does not decode (so it finds no instance) stops
/// the runner at it instead of being dropped, until an operator skips it.
async fn an_input_that_does_not_route_stops_the_saga_until_skipped<St>(store: St)
where
    St: EventStore + CheckpointStore + SagaStore + Clone,
{
    let (agency, clock) = start();
    let handle = runner(&store, &agency, &clock);
    let poison = record_broken(&store, "poisoned", br#"{"pay_within_minutes":0}"#).await;
    stops_at_until_skipped(&store, &handle, poison).await;
    handle.stop().await;
}

mod racing {
    //! Hooks that order an operator's action and a worker's look at a stuck instance the
    //! worst way round, once armed.

    use annals::async_trait;
    use annals::store::OpenSaga;
    use tokio::sync::watch;

    use crate::sagas::hooked::Hooks;

    #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
    enum Phase {
        Idle,
        Armed,
        /// The operator wrote its "due" row; the worker is about to look.
        OperatorWoke,
        /// The worker read the stream (before the operator's append).
        WorkerRead,
        /// The operator's append is done.
        OperatorAppended,
        /// The worker's "stuck" row was written after that append.
        Raced,
    }

    pub struct Racing {
        phase: watch::Sender<Phase>,
    }

    impl Racing {
        pub fn new() -> Self {
            Racing {
                phase: watch::channel(Phase::Idle).0,
            }
        }

        pub fn arm(&self) {
            self.phase.send_replace(Phase::Armed);
        }

        /// Returns once the worker's "stuck" row was written after the operator's append.
        pub async fn raced(&self) {
            self.until(Phase::Raced).await;
        }

        fn phase(&self) -> Phase {
            *self.phase.borrow()
        }

        async fn until(&self, phase: Phase) {
            let mut watch = self.phase.subscribe();
            watch.wait_for(|now| *now >= phase).await.unwrap();
        }
    }

    fn saga_stream(stream_id: &str) -> bool {
        stream_id.starts_with("saga:")
    }

    fn stuck_row(open: &OpenSaga) -> bool {
        open.wake_at.is_none() && open.stuck.is_some()
    }

    #[async_trait]
    impl Hooks for Racing {
        /// The operator's append waits for the worker's read.
        async fn before_append(&self, stream_id: &str) {
            if saga_stream(stream_id) && self.phase() == Phase::OperatorWoke {
                self.until(Phase::WorkerRead).await;
            }
        }

        async fn after_append(&self, stream_id: &str, _: bool) {
            if saga_stream(stream_id) && self.phase() == Phase::WorkerRead {
                self.phase.send_replace(Phase::OperatorAppended);
            }
        }

        async fn after_read_stream(&self, stream_id: &str) {
            if saga_stream(stream_id) && self.phase() == Phase::OperatorWoke {
                self.phase.send_replace(Phase::WorkerRead);
            }
        }

        /// The worker's "stuck" row waits for the operator's append.
        async fn before_keep_open_saga(&self, open: &OpenSaga) {
            if stuck_row(open) && matches!(self.phase(), Phase::OperatorWoke | Phase::WorkerRead) {
                self.until(Phase::OperatorAppended).await;
            }
        }

        async fn after_keep_open_saga(&self, open: &OpenSaga) {
            match self.phase() {
                Phase::Armed if open.wake_at.is_some() => {
                    self.phase.send_replace(Phase::OperatorWoke);
                }
                Phase::OperatorAppended if stuck_row(open) => {
                    self.phase.send_replace(Phase::Raced);
                }
                _ => {}
            }
        }
    }
}
