//! The in-memory open sagas.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::InMemoryStore;
use crate::store::{OpenSaga, SagaStore, StoreError};

#[async_trait]
impl SagaStore for InMemoryStore {
    async fn keep_open_saga(&self, open: &OpenSaga) -> Result<(), StoreError> {
        self.write()
            .open_sagas
            .insert((open.saga.clone(), open.instance.clone()), open.clone());
        Ok(())
    }

    async fn forget_open_saga(&self, saga: &str, instance: &str) -> Result<(), StoreError> {
        self.write()
            .open_sagas
            .remove(&(saga.to_owned(), instance.to_owned()));
        Ok(())
    }

    async fn open_sagas(&self, saga: &str) -> Result<Vec<OpenSaga>, StoreError> {
        Ok(self
            .read()
            .open_sagas
            .values()
            .filter(|open| open.saga == saga)
            .cloned()
            .collect())
    }

    async fn due_sagas(
        &self,
        saga: &str,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OpenSaga>, StoreError> {
        let mut due: Vec<OpenSaga> = self
            .read()
            .open_sagas
            .values()
            .filter(|open| open.saga == saga && open.wake_at.is_some_and(|at| at <= now))
            .cloned()
            .collect();
        due.sort_by(|a, b| (a.wake_at, &a.instance).cmp(&(b.wake_at, &b.instance)));
        due.truncate(limit);
        Ok(due)
    }
}
