//! The timer: hands the instances whose time has come (a deadline, a retry's pause, an
//! operator's action) to their workers.

use std::sync::Arc;

use super::worker::Job;
use super::{Shared, Workers};
use crate::saga::{Clock, Saga, SagaOptions};
use crate::store::SagaStore;

/// Due instances taken at a time.
const DUE_BATCH: usize = 256;

pub(super) struct Timer<S, St> {
    pub(super) store: St,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) options: SagaOptions,
    pub(super) workers: Workers,
    pub(super) shared: Arc<Shared>,
    pub(super) _saga: std::marker::PhantomData<fn() -> S>,
}

impl<S: Saga, St: SagaStore> Timer<S, St> {
    pub(super) async fn run(self) {
        let mut stop = self.shared.stop.subscribe();
        loop {
            match self
                .store
                .due_sagas(S::NAME, self.clock.now(), DUE_BATCH)
                .await
            {
                Ok(due) => {
                    for open in due {
                        let job = Job::Wake {
                            instance: open.instance,
                        };
                        if !self.workers.send(job).await {
                            return;
                        }
                    }
                }
                Err(error) => {
                    tracing::warn!(saga = S::NAME, %error, "reading the due sagas failed");
                }
            }
            tokio::select! {
                () = tokio::time::sleep(self.options.poll_interval) => {}
                _ = stop.changed() => return,
            }
        }
    }
}
