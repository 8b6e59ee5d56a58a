//! The operators' view of a saga's instances: load one, list the intervention queue, and
//! release a stuck instance (retry its compensation, skip it, or resolve the saga).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::instance::InstanceError;
use super::record::OperatorAction;
use super::{Instance, Saga, SagaStatus};
use crate::store::{EventStore, ExpectedVersion, OpenSaga, SagaStore, StoreError};

/// An instance as its stream folds.
#[derive(Debug)]
#[non_exhaustive]
pub struct SagaView<S: Saga> {
    /// The instance's id.
    pub instance: String,
    /// Where it stands.
    pub status: SagaStatus,
    /// Its state.
    pub state: S,
    /// The steps planned and not yet done, in order.
    pub pending: Vec<S::Step>,
    /// The compensations pushed, the next to run first.
    pub compensations: Vec<S::Step>,
    /// Its deadlines, by name.
    pub deadlines: BTreeMap<String, DateTime<Utc>>,
    /// The version of its stream.
    pub version: u64,
}

/// Why an operator's action was not taken.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OperatorError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The instance's stream does not fold.
    #[error(transparent)]
    Instance(#[from] InstanceError),
    /// There is no such instance.
    #[error("saga `{saga}` has no instance `{instance}`")]
    NotFound {
        /// The saga's name.
        saga: &'static str,
        /// The instance asked for.
        instance: String,
    },
    /// The action does not apply to the instance as it stands: only a stuck instance is
    /// retried or skipped, and a finished one is not resolved.
    #[error("saga `{saga}` instance `{instance}` is {status:?}: {action} does not apply")]
    NotApplicable {
        /// The saga's name.
        saga: &'static str,
        /// The instance.
        instance: String,
        /// The action asked for.
        action: &'static str,
        /// Where the instance stands.
        status: SagaStatus,
    },
}

/// The operators' view of saga `S`'s instances on a store: from the runner's handle
/// ([`SagaRunnerHandle::sagas`](super::SagaRunnerHandle::sagas)), or from any process
/// with the store.
#[derive(Debug, Clone)]
pub struct Sagas<S, St> {
    store: St,
    _saga: std::marker::PhantomData<fn() -> S>,
}

impl<S: Saga, St: EventStore + SagaStore> Sagas<S, St> {
    /// The view on `store`.
    pub fn new(store: St) -> Self {
        Sagas {
            store,
            _saga: std::marker::PhantomData,
        }
    }

    async fn instance(&self, id: &str) -> Result<Option<Instance<S>>, OperatorError> {
        let events = self
            .store
            .read_stream(&S::stream_id(id), 0, usize::MAX)
            .await?;
        if events.is_empty() {
            return Ok(None);
        }
        let mut instance = Instance::new(id);
        instance.fold(&events)?;
        Ok(Some(instance))
    }

    /// Instance `id` as its stream folds, if it exists.
    pub async fn load(&self, id: &str) -> Result<Option<SagaView<S>>, OperatorError> {
        Ok(self.instance(id).await?.map(Instance::into_view))
    }

    /// The intervention queue: the instances waiting for an operator, by id, each with
    /// its whole state and the error.
    pub async fn stuck(&self) -> Result<Vec<SagaView<S>>, OperatorError> {
        let mut stuck = Vec::new();
        for open in self.store.open_sagas(S::NAME).await? {
            if open.stuck.is_none() {
                continue;
            }
            if let Some(view) = self.load(&open.instance).await?
                && matches!(view.status, SagaStatus::Stuck { .. })
            {
                stuck.push(view);
            }
        }
        Ok(stuck)
    }

    /// Tries the stuck compensation of instance `id` again, with fresh retries.
    pub async fn retry(&self, id: &str) -> Result<(), OperatorError> {
        self.operate(id, OperatorAction::Retry, "retry").await
    }

    /// Takes the stuck compensation of instance `id` as done (by hand), and goes on with
    /// the next.
    pub async fn skip(&self, id: &str) -> Result<(), OperatorError> {
        self.operate(id, OperatorAction::Skip, "skip").await
    }

    /// Closes instance `id`: an operator has put everything right. Its remaining steps
    /// and compensations never run.
    pub async fn resolve(&self, id: &str) -> Result<(), OperatorError> {
        self.operate(id, OperatorAction::Resolve, "resolve").await
    }

    async fn operate(
        &self,
        id: &str,
        action: OperatorAction,
        name: &'static str,
    ) -> Result<(), OperatorError> {
        let mut instance = self.instance(id).await?.ok_or(OperatorError::NotFound {
            saga: S::NAME,
            instance: id.to_owned(),
        })?;
        if !instance.operate(action) {
            return Err(OperatorError::NotApplicable {
                saga: S::NAME,
                instance: id.to_owned(),
                action: name,
                status: instance.status,
            });
        }
        // The row first: a runner then looks at the instance even if the append below is
        // the last thing this process does. And again after it: a runner that read the
        // stream before the append may have written its "stuck" row over the first one
        // (it reads the stream again after writing that row, which covers the other order).
        self.wake(id).await?;
        let events = instance.unsaved_events()?;
        self.store
            .append(
                &S::stream_id(id),
                ExpectedVersion::Exact(instance.version),
                events,
            )
            .await?;
        self.wake(id).await
    }

    /// Makes instance `id` due at once for every runner, whatever its clock says (another
    /// machine's, or a test's): at the earliest time, not at this process's now.
    async fn wake(&self, id: &str) -> Result<(), OperatorError> {
        self.store
            .keep_open_saga(&OpenSaga {
                saga: S::NAME.to_owned(),
                instance: id.to_owned(),
                wake_at: Some(DateTime::UNIX_EPOCH),
                stuck: None,
                updated_at: Utc::now(),
            })
            .await?;
        Ok(())
    }
}
