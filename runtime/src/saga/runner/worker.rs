//! A worker: loads an instance (from its cache, and its stream's tail), hands it its input,
//! performs its plan as far as it goes, saves what happened in one append, and keeps the
//! instance's open-saga row in step.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU32;

use tokio::sync::mpsc;

use super::{SagaRunnerStatus, Shared};
use crate::backoff::Backoff;
use crate::caught::caught;
use crate::repository::CommandDispatcher;
use crate::saga::instance::{InstanceError, Next};
use crate::saga::{Clock, Instance, Route, Saga, SagaOptions, SagaStatus, StepContext, StepError};
use crate::store::{EventStore, ExpectedVersion, OpenSaga, RecordedEvent, SagaStore, StoreError};

/// What a worker is handed.
pub(crate) enum Job {
    /// A consumed event, for instance `route.instance`.
    Input {
        position: u64,
        recorded: Box<RecordedEvent>,
        route: Route,
    },
    /// Look at `instance`: its time has come.
    Wake { instance: String },
}

impl Job {
    pub(super) fn instance(&self) -> &str {
        match self {
            Job::Input { route, .. } => &route.instance,
            Job::Wake { instance } => instance,
        }
    }
}

/// Records saved in one append at most while a plan runs: what a crash may have to
/// perform again (under the same keys).
const SAVE_EVERY: usize = 16;

/// Instances kept in a worker's cache at most.
const CACHE: usize = 4096;

pub(super) struct Worker<S: Saga, St> {
    pub(super) store: St,
    pub(super) commands: Arc<CommandDispatcher>,
    pub(super) services: Arc<S::Services>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) options: SagaOptions,
    pub(super) cache: HashMap<String, Instance<S>>,
    pub(super) done: mpsc::UnboundedSender<u64>,
    pub(super) shared: Arc<Shared>,
}

/// Why handling a job stopped; it is handled again after a pause.
#[derive(Debug, thiserror::Error)]
enum JobError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Instance(#[from] InstanceError),
    #[error("another runner recorded for this instance first")]
    Conflict,
    #[error("the saga's reaction panicked: {0}")]
    Panicked(String),
}

impl<S: Saga, St: EventStore + SagaStore> Worker<S, St> {
    pub(super) async fn run(mut self, mut jobs: mpsc::Receiver<Job>) {
        let backoff = Backoff::new(
            std::time::Duration::from_millis(50),
            std::time::Duration::from_secs(30),
        );
        while let Some(job) = jobs.recv().await {
            let mut failures = 0;
            loop {
                if let Job::Input { position, .. } = &job
                    && self.shared.is_skipped(*position)
                {
                    break;
                }
                match self.handle(&job).await {
                    Ok(()) => break,
                    Err(JobError::Conflict) => {
                        // Reload and handle it again at once.
                        self.cache.remove(job.instance());
                    }
                    Err(error) => {
                        self.cache.remove(job.instance());
                        failures += 1;
                        let message = format!("instance `{}`: {error}", job.instance());
                        match (&job, &error) {
                            // The store failing is not the input's fault.
                            (_, JobError::Store(_)) | (Job::Wake { .. }, _) => {
                                tracing::warn!(saga = S::NAME, %message, "saga job failed");
                                self.shared.status.send_replace(SagaRunnerStatus::Retrying {
                                    error: message,
                                    attempts: failures,
                                });
                            }
                            (Job::Input { recorded, .. }, _) => {
                                self.shared
                                    .input_failing(S::NAME, recorded, message, failures);
                            }
                        }
                        self.shared.pause(backoff.after(failures)).await;
                    }
                }
            }
            if failures > 0 {
                self.shared.status.send_replace(SagaRunnerStatus::Running);
            }
            if let Job::Input { position, .. } = job {
                let _ = self.done.send(position);
            }
        }
    }

    async fn handle(&mut self, job: &Job) -> Result<(), JobError> {
        let id = job.instance();
        let mut instance = match self.cache.remove(id) {
            Some(instance) => instance,
            None => Instance::new(id),
        };
        self.catch_up(&mut instance).await?;
        if let Job::Wake { .. } = job {
            // Its open-saga row woke it.
            instance.timed = true;
        }
        let now = self.clock.now();
        if let Job::Input {
            recorded, route, ..
        } = job
        {
            if !instance.started() && !route.starts {
                return Ok(());
            }
            if !instance.has_handled(recorded.event_id) && !instance.status.is_finished() {
                let reacted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    instance.react(recorded, now)
                }));
                match reacted {
                    Ok(result) => result?,
                    Err(panic) => {
                        return Err(JobError::Panicked(
                            crate::caught::panic_message(&panic).to_owned(),
                        ));
                    }
                }
            }
        }
        loop {
            self.drive(&mut instance).await?;
            if !matches!(instance.status, SagaStatus::Stuck { .. }) {
                break;
            }
            // Its row now says it waits for an operator. An operator's action saved after
            // this worker read the stream, and before the row was written, would be lost:
            // the stream is read again after the row.
            let version = instance.version;
            self.catch_up(&mut instance).await?;
            if instance.version == version {
                break;
            }
        }
        if self.cache.len() >= CACHE {
            self.cache.clear();
        }
        if !instance.status.is_finished() {
            self.cache.insert(id.to_owned(), instance);
        }
        Ok(())
    }

    /// Folds the records of its stream after the version the instance holds.
    async fn catch_up(&self, instance: &mut Instance<S>) -> Result<(), JobError> {
        let stream = S::stream_id(&instance.id);
        loop {
            let events = self
                .store
                .read_stream(&stream, instance.version + 1, 1024)
                .await?;
            let short = events.len() < 1024;
            instance.fold(&events)?;
            if short {
                return Ok(());
            }
        }
    }

    /// Performs the instance's plan as far as it goes, saving as it goes; then keeps its
    /// open-saga row.
    async fn drive(&self, instance: &mut Instance<S>) -> Result<(), JobError> {
        loop {
            let now = self.clock.now();
            match instance.next(now) {
                Next::Perform {
                    no,
                    step,
                    compensating,
                    ..
                } => {
                    let context = StepContext {
                        key: instance.key(no),
                        services: &*self.services,
                        commands: &self.commands,
                        metadata: instance.metadata(),
                        sent: AtomicU32::new(0),
                    };
                    let result =
                        caught(S::perform(&step, &context))
                            .await
                            .unwrap_or_else(|panic| {
                                Err(StepError::Failed(format!("the step panicked: {panic}")))
                            });
                    let failed = result.is_err();
                    let now = self.clock.now();
                    instance.performed(no, &step, compensating, result, &self.options, now)?;
                    if failed {
                        // A pause is about to start: what failed is saved first.
                        self.save(instance).await?;
                    }
                    if instance.unsaved.len() >= SAVE_EVERY {
                        self.save(instance).await?;
                    }
                    // A step that completes at once must not keep the thread from others.
                    tokio::task::yield_now().await;
                }
                Next::Deadline(name) => instance.fire_deadline(&name, now)?,
                Next::Wait(_) | Next::Stuck | Next::Finished => break,
            }
        }
        self.save(instance).await?;
        self.keep_row(instance).await
    }

    /// Appends the unsaved records in one append.
    async fn save(&self, instance: &mut Instance<S>) -> Result<(), JobError> {
        if instance.unsaved.is_empty() {
            return Ok(());
        }
        let events = instance.unsaved_events()?;
        let expected = ExpectedVersion::Exact(instance.version);
        match self
            .store
            .append(&S::stream_id(&instance.id), expected, events)
            .await
        {
            Ok(result) => {
                instance.version = result.stream_version;
                instance.unsaved.clear();
                Ok(())
            }
            Err(StoreError::WrongExpectedVersion { .. }) => Err(JobError::Conflict),
            Err(error) => Err(error.into()),
        }
    }

    /// Writes the instance's open-saga row when it waits for time or an operator, and
    /// removes it when it no longer does.
    async fn keep_row(&self, instance: &mut Instance<S>) -> Result<(), JobError> {
        let now = self.clock.now();
        match instance.wake_at(now) {
            Some(wake_at) => {
                let stuck = match &instance.status {
                    SagaStatus::Stuck { step, error, .. } => {
                        Some(format!("compensation {step}: {error}"))
                    }
                    _ => None,
                };
                self.store
                    .keep_open_saga(&OpenSaga {
                        saga: S::NAME.to_owned(),
                        instance: instance.id.clone(),
                        wake_at,
                        stuck,
                        updated_at: chrono::Utc::now(),
                    })
                    .await?;
                instance.timed = true;
            }
            None if instance.timed => {
                self.store.forget_open_saga(S::NAME, &instance.id).await?;
            }
            None => {}
        }
        Ok(())
    }
}
