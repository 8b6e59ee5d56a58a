//! A saga's runner SIGKILLed at each boundary of each step and compensation, on SQLite and
//! PostgreSQL: before a step's effect, after its effect and before its result is recorded,
//! and after each save of the saga's records. A second runner then finishes. The end state
//! is the uninterrupted run's, and the agency (an outside service whose books are a file
//! both processes share) saw each effect key once.
//!
//! Three trips run: `ok` books a flight, a hotel and a car and confirms; `no-car` is
//! refused its car, so its hotel and flight are cancelled, last booked first; `pays-later`
//! books and confirms, then waits for its payment (which the test records after the
//! restart), so a runner killed after its save finds it unfinished.

mod sagas;
mod services;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use annals::CommandDispatcher;
use annals::async_trait;
use annals::saga::{SagaRunner, SagaStatus, Sagas};
use annals::store::{
    CheckpointStore, EventStore, PostgresOptions, PostgresStore, SagaStore, SqliteStore,
};
use sagas::hooked::{Hooked, Hooks};
use sagas::{Agency, Answer, Booking, Halt, Moment, Trip, TripStep, options, record, requested};

use Booking::{Car, Flight, Hotel};
use TripStep::{Book, Cancel, Confirm};

/// Where the runner's process is killed.
#[derive(Debug, Clone)]
enum CrashPoint {
    /// At `moment` of the agency's call for `step` of `trip`.
    Call(Moment, &'static str, TripStep),
    /// Right after the `n`th save of saga records (1-based) by the process.
    AfterSave(usize),
}

impl CrashPoint {
    fn to_env(&self) -> String {
        match self {
            CrashPoint::Call(moment, trip, step) => format!(
                "{}|{trip}|{}",
                match moment {
                    Moment::BeforeEffect => "before",
                    Moment::AfterEffect => "after",
                },
                serde_json::to_string(step).unwrap()
            ),
            CrashPoint::AfterSave(n) => format!("save|{n}"),
        }
    }
}

fn crash_points() -> Vec<CrashPoint> {
    let mut points = Vec::new();
    let calls: [(&str, TripStep); 9] = [
        ("ok", Book(Flight)),
        ("ok", Book(Hotel)),
        ("ok", Book(Car)),
        ("ok", Confirm),
        ("no-car", Book(Flight)),
        ("no-car", Book(Hotel)),
        ("no-car", Book(Car)),
        ("no-car", Cancel(Hotel)),
        ("no-car", Cancel(Flight)),
    ];
    for (trip, step) in calls {
        points.push(CrashPoint::Call(Moment::BeforeEffect, trip, step.clone()));
        // A refused car has no effect to crash after.
        if !(trip == "no-car" && step == Book(Car)) {
            points.push(CrashPoint::Call(Moment::AfterEffect, trip, step));
        }
    }
    // One save per trip when nothing interrupts it.
    points.extend((1..=3).map(CrashPoint::AfterSave));
    points
}

/// The agency both processes use: its books in `journal`, the car refused to `no-car`.
fn agency(journal: &Path) -> Agency {
    let agency = Agency::persistent(journal);
    agency.answer_for("no-car", Book(Car), Answer::Reject);
    agency
}

/// Run in a child process: the trip saga on the store the environment names, halting
/// where it says, until killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the child process of the saga crash-point tests"]
async fn crash_point_child() {
    let env = |name: &str| std::env::var(name).unwrap();
    let journal = PathBuf::from(env("ANNALS_CRASH_JOURNAL"));
    let marker = PathBuf::from(env("ANNALS_CRASH_MARKER"));
    let point = env("ANNALS_CRASH_POINT");
    let fields: Vec<&str> = point.splitn(3, '|').collect();
    let mut agency = agency(&journal);
    let mut halt_after_save = None;
    match fields[0] {
        "save" => halt_after_save = Some(fields[1].parse::<usize>().unwrap()),
        moment => {
            agency = agency.halt_at(Halt {
                moment: if moment == "before" {
                    Moment::BeforeEffect
                } else {
                    Moment::AfterEffect
                },
                trip: fields[1].to_owned(),
                step: serde_json::from_str(fields[2]).unwrap(),
                marker: marker.clone(),
            });
        }
    }
    let agency = Arc::new(agency);
    if let Ok(path) = std::env::var("ANNALS_CRASH_SQLITE") {
        let store = Hooked::new(
            SqliteStore::open(&path).unwrap(),
            HaltAfterSave::new(halt_after_save, marker),
        );
        run_forever(store, agency).await;
    } else {
        let options = PostgresOptions::new(services::database_url())
            .with_schema(env("ANNALS_CRASH_SCHEMA"))
            .with_pool_size(4);
        let store = PostgresStore::connect_with(options).await.unwrap();
        let store = Hooked::new(store, HaltAfterSave::new(halt_after_save, marker));
        run_forever(store, agency).await;
    }
}

async fn run_forever<St>(store: St, agency: Arc<Agency>)
where
    St: EventStore + CheckpointStore + SagaStore + Clone,
{
    let _runner = SagaRunner::<Trip, _>::new(store, CommandDispatcher::new(), agency)
        .with_options(options())
        .spawn();
    std::future::pending::<()>().await;
}

/// For each crash point: a fresh store from `fresh`, the two trips asked for, a runner
/// killed at the point, then a runner left to finish; the end state is checked.
async fn each_crash_point_leaves_the_state_of_an_uninterrupted_run<St, F, Fut>(
    fresh: F,
    child_env: impl Fn(&St) -> (&'static str, String),
) where
    St: EventStore + CheckpointStore + SagaStore + Clone,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = St>,
{
    for point in crash_points() {
        let store = fresh().await;
        let dir = services::sqlite_path("crash-point");
        let journal = dir.with_extension("journal");
        let marker = dir.with_extension("marker");
        record(&store, requested("ok", 0)).await;
        record(&store, requested("no-car", 0)).await;
        record(&store, requested("pays-later", 60)).await;

        let (name, value) = child_env(&store);
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--ignored",
                "--exact",
                "crash_point_child",
                "--test-threads=1",
            ])
            .env(name, value)
            .env("ANNALS_CRASH_JOURNAL", &journal)
            .env("ANNALS_CRASH_MARKER", &marker)
            .env("ANNALS_CRASH_POINT", point.to_env())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !marker.exists() {
            assert!(
                std::time::Instant::now() < deadline,
                "{point:?}: the runner never got there"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        child.kill().unwrap();
        child.wait().unwrap();

        let agency = Arc::new(agency(&journal));
        let runner =
            SagaRunner::<Trip, _>::new(store.clone(), CommandDispatcher::new(), agency.clone())
                .with_options(options())
                .spawn();
        let sagas = runner.sagas();
        let ok = finished(&sagas, "ok", &point).await;
        let no_car = finished(&sagas, "no-car", &point).await;
        record(
            &store,
            sagas::TripPaid {
                trip: "pays-later".into(),
            }
            .into(),
        )
        .await;
        let pays_later = finished(&sagas, "pays-later", &point).await;
        runner.stop().await;
        assert_eq!(pays_later, SagaStatus::Completed, "{point:?}");
        assert_eq!(
            agency.effects("pays-later"),
            [Book(Flight), Book(Hotel), Book(Car), Confirm],
            "{point:?}"
        );
        assert_eq!(ok, SagaStatus::Completed, "{point:?}");
        assert!(
            matches!(no_car, SagaStatus::Compensated { .. }),
            "{point:?}: {no_car:?}"
        );
        assert_eq!(
            agency.effects("ok"),
            [Book(Flight), Book(Hotel), Book(Car), Confirm],
            "{point:?}"
        );
        assert_eq!(
            agency.effects("no-car"),
            [Book(Flight), Book(Hotel), Cancel(Hotel), Cancel(Flight)],
            "{point:?}"
        );
        assert!(
            agency.doubled().is_empty(),
            "{point:?}: effects twice for {:?}",
            agency.doubled()
        );
        assert!(
            sagas.stuck().await.unwrap().is_empty(),
            "{point:?}: none stuck"
        );
    }
}

async fn finished<St: EventStore + SagaStore>(
    sagas: &Sagas<Trip, St>,
    trip: &str,
    point: &CrashPoint,
) -> SagaStatus {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let view = sagas.load(trip).await.unwrap();
        if let Some(view) = &view
            && view.status.is_finished()
        {
            return view.status.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{point:?}: trip {trip} did not finish: {view:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_runners_killed_at_each_boundary_leave_the_state_of_an_uninterrupted_run() {
    each_crash_point_leaves_the_state_of_an_uninterrupted_run(
        || async { SqliteStore::open(services::sqlite_path("crash-points")).unwrap() },
        |store: &SqliteStore| ("ANNALS_CRASH_SQLITE", store.path().display().to_string()),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_runners_killed_at_each_boundary_leave_the_state_of_an_uninterrupted_run() {
    if services::postgres_store(1).await.is_none() {
        return;
    }
    each_crash_point_leaves_the_state_of_an_uninterrupted_run(
        || async { services::postgres_store(4).await.unwrap() },
        |store: &PostgresStore| ("ANNALS_CRASH_SCHEMA", store.schema().to_owned()),
    )
    .await;
}

/// Halts the process right after the `n`th append to a saga's stream: writes `marker`
/// and hangs, for the test to kill it there.
struct HaltAfterSave {
    halt_after: Option<usize>,
    saves: std::sync::atomic::AtomicUsize,
    marker: PathBuf,
}

impl HaltAfterSave {
    fn new(halt_after: Option<usize>, marker: PathBuf) -> Self {
        HaltAfterSave {
            halt_after,
            saves: Default::default(),
            marker,
        }
    }
}

#[async_trait]
impl Hooks for HaltAfterSave {
    async fn after_append(&self, stream_id: &str, appended: bool) {
        if appended && stream_id.starts_with("saga:") {
            let saves = 1 + self.saves.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if Some(saves) == self.halt_after {
                std::fs::write(&self.marker, stream_id).unwrap();
                loop {
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
        }
    }
}
