//! The saga runner: feeds a saga from the global log and performs its plans.
//!
//! A reader reads the consumed events after the saga's checkpoint and hands each to the
//! worker of its instance (an instance always goes to the same worker, so its inputs are
//! handled in log order, one at a time); a timer hands the instances whose time has come
//! (deadlines, retries, operators' actions) to their workers. The checkpoint moves over
//! the events whose instance has recorded its reaction and run its plan as far as it
//! could, so a crash resumes every instance from its stream.

mod handle;
mod reader;
mod timer;
mod worker;

use std::sync::Arc;

use tokio::sync::{mpsc, watch};

pub use self::handle::{SagaInputFailure, SagaRunnerHandle, SagaRunnerStatus, SagaWaitError};
use self::reader::Reader;
use self::timer::Timer;
use self::worker::{Job, Worker};
use super::Saga;
use super::clock::{Clock, SystemClock};
use super::options::SagaOptions;
use crate::repository::CommandDispatcher;
use crate::store::{CheckpointStore, EventStore, SagaStore};

/// Runs one saga: build it with the store holding the log and the saga's streams, the
/// command dispatcher its steps send commands through, and the services they call; then
/// [`spawn`](SagaRunner::spawn) it.
///
/// ```
/// # use annals::saga::{Plan, React, Saga, StepContext, StepError, StepOutput, Steps};
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
/// # struct Placed { order: String }
/// # #[derive(annals::Event, Clone, Debug, PartialEq)]
/// # enum OrderEvent { Placed(Placed) }
/// # #[derive(annals::saga::Saga, Default, Serialize, Deserialize)]
/// # #[saga(starts(OrderEvent), id = order)]
/// # struct Fulfilment { order: String }
/// # impl React<Placed> for Fulfilment {
/// #     fn react(&mut self, event: annals::Recorded<'_, Placed>, plan: &mut Plan<()>) {
/// #         self.order = event.order.clone();
/// #         plan.complete();
/// #     }
/// # }
/// # #[annals::async_trait]
/// # impl Steps for Fulfilment {
/// #     type Step = ();
/// #     type Services = ();
/// #     async fn perform(_: &(), _: &StepContext<'_, ()>) -> Result<StepOutput, StepError> { Ok(StepOutput::none()) }
/// # }
/// use annals::saga::{SagaOptions, SagaRunner};
/// use annals::store::{EventStore, ExpectedVersion, InMemoryStore, Metadata};
/// use annals::{CommandDispatcher, Event};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = InMemoryStore::new();
/// let runner = SagaRunner::<Fulfilment, _>::new(store.clone(), CommandDispatcher::new(), ())
///     .with_options(SagaOptions::default().with_workers(4))
///     .spawn();
/// let placed = OrderEvent::from(Placed { order: "o-1".into() }).to_new_event(Metadata::default())?;
/// let appended = store.append("order-o-1", ExpectedVersion::Any, vec![placed]).await?;
/// runner.wait_for(appended.last_position(), std::time::Duration::from_secs(5)).await?;
/// let sagas = runner.sagas();
/// assert!(sagas.load("o-1").await?.unwrap().status.is_finished());
/// runner.stop().await;
/// # Ok(()) }
/// ```
pub struct SagaRunner<S: Saga, St> {
    store: St,
    commands: Arc<CommandDispatcher>,
    services: Arc<S::Services>,
    clock: Arc<dyn Clock>,
    options: SagaOptions,
}

impl<S, St> SagaRunner<S, St>
where
    S: Saga,
    St: EventStore + CheckpointStore + SagaStore + Clone,
{
    /// A runner of saga `S` on `store`, sending commands through `commands` and calling
    /// `services`.
    pub fn new(store: St, commands: CommandDispatcher, services: S::Services) -> Self {
        SagaRunner {
            store,
            commands: Arc::new(commands),
            services: Arc::new(services),
            clock: Arc::new(SystemClock),
            options: SagaOptions::default(),
        }
    }

    /// Runs with these options.
    pub fn with_options(mut self, options: SagaOptions) -> Self {
        self.options = options;
        self
    }

    /// Measures time with `clock` (a [`ManualClock`](super::ManualClock) in tests).
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Starts the reader, the timer and the workers on the current tokio runtime.
    pub fn spawn(self) -> SagaRunnerHandle<S, St> {
        let shared = Arc::new(Shared {
            status: watch::Sender::new(SagaRunnerStatus::Starting),
            handled: watch::Sender::new(0),
            stop: watch::Sender::new(false),
            skipped: Default::default(),
            any_skipped: Default::default(),
            wake: Default::default(),
        });
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        let mut workers = Vec::with_capacity(self.options.workers);
        let mut tasks = Vec::new();
        for _ in 0..self.options.workers {
            let (jobs_tx, jobs_rx) = mpsc::channel::<Job>(self.options.batch_size);
            workers.push(jobs_tx);
            let worker = Worker::<S, St> {
                store: self.store.clone(),
                commands: self.commands.clone(),
                services: self.services.clone(),
                clock: self.clock.clone(),
                options: self.options.clone(),
                cache: Default::default(),
                done: done_tx.clone(),
                shared: shared.clone(),
            };
            tasks.push(tokio::spawn(worker.run(jobs_rx)));
        }
        let workers = Workers(Arc::new(workers));
        let timer = Timer::<S, St> {
            store: self.store.clone(),
            clock: self.clock.clone(),
            options: self.options.clone(),
            workers: workers.clone(),
            shared: shared.clone(),
            _saga: std::marker::PhantomData,
        };
        tasks.push(tokio::spawn(timer.run()));
        let reader = Reader::<S, St>::new(
            self.store.clone(),
            self.options.clone(),
            workers,
            shared.clone(),
            done_rx,
        );
        tasks.push(tokio::spawn(reader.run()));
        SagaRunnerHandle {
            shared,
            tasks,
            store: self.store,
            _saga: std::marker::PhantomData,
        }
    }
}

/// What the runner's tasks and its handle share.
#[derive(Debug)]
pub(super) struct Shared {
    pub(super) status: watch::Sender<SagaRunnerStatus>,
    /// The position up to which every consumed event has been handled (in the store's
    /// order).
    pub(super) handled: watch::Sender<u64>,
    pub(super) stop: watch::Sender<bool>,
    /// The positions operators skipped.
    skipped: std::sync::Mutex<std::collections::HashSet<u64>>,
    /// Whether `skipped` holds any: the reader asks for every event.
    any_skipped: std::sync::atomic::AtomicBool,
    /// Ends the pauses of a reader or worker that is failing.
    pub(super) wake: tokio::sync::Notify,
}

impl Shared {
    fn skip(&self, position: u64) {
        self.skipped
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(position);
        self.any_skipped
            .store(true, std::sync::atomic::Ordering::Release);
        self.wake.notify_waiters();
    }

    pub(super) fn is_skipped(&self, position: u64) -> bool {
        self.any_skipped.load(std::sync::atomic::Ordering::Acquire)
            && self
                .skipped
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .contains(&position)
    }

    /// Pauses for `pause`, or until an operator acts.
    pub(super) async fn pause(&self, pause: std::time::Duration) {
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = self.wake.notified() => {}
        }
    }

    /// An input failed: the status says which and why.
    pub(super) fn input_failing(
        &self,
        saga: &'static str,
        recorded: &crate::store::RecordedEvent,
        message: String,
        attempts: u32,
    ) {
        tracing::warn!(saga, position = recorded.position, %message, "saga input failing");
        self.status
            .send_replace(SagaRunnerStatus::Failing(SagaInputFailure {
                saga,
                position: recorded.position,
                stream_id: recorded.stream_id.clone(),
                event_type: recorded.event_type.clone(),
                message,
                attempts,
            }));
    }
}

/// The workers' queues: an instance always goes to one worker.
#[derive(Clone)]
pub(super) struct Workers(Arc<Vec<mpsc::Sender<Job>>>);

impl Workers {
    /// Hands `job` to its instance's worker; `false` when the workers have stopped.
    pub(super) async fn send(&self, job: Job) -> bool {
        let hash = crate::key_hash::key_hash(job.instance());
        let worker = &self.0[(hash % self.0.len() as u64) as usize];
        worker.send(job).await.is_ok()
    }
}
