//! A store that calls the test's hooks around the calls a saga runner makes: to hold a
//! call until another has happened, or to halt the process at a point.

use std::sync::Arc;

use annals::async_trait;
use annals::store::{
    AppendResult, Catalog, CheckpointStore, EventFilter, EventStore, ExpectedVersion, NewEvent,
    OpenSaga, RecordedEvent, SagaStore, StoreError,
};
use annals::{DateTime, Utc};

/// What a test does around the store's calls; nothing by default.
#[async_trait]
pub trait Hooks: Send + Sync + 'static {
    async fn before_append(&self, _stream_id: &str) {}
    async fn after_append(&self, _stream_id: &str, _appended: bool) {}
    async fn after_read_stream(&self, _stream_id: &str) {}
    async fn before_keep_open_saga(&self, _open: &OpenSaga) {}
    async fn after_keep_open_saga(&self, _open: &OpenSaga) {}
}

/// `inner`, with `hooks` called around its calls.
pub struct Hooked<St, H> {
    inner: St,
    hooks: Arc<H>,
}

impl<St: Clone, H> Clone for Hooked<St, H> {
    fn clone(&self) -> Self {
        Hooked {
            inner: self.inner.clone(),
            hooks: self.hooks.clone(),
        }
    }
}

impl<St, H> Hooked<St, H> {
    pub fn new(inner: St, hooks: H) -> Self {
        Hooked {
            inner,
            hooks: Arc::new(hooks),
        }
    }

    pub fn hooks(&self) -> &H {
        &self.hooks
    }
}

#[async_trait]
impl<St: EventStore + Clone, H: Hooks> EventStore for Hooked<St, H> {
    async fn append(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        self.hooks.before_append(stream_id).await;
        let result = self.inner.append(stream_id, expected, events).await;
        self.hooks.after_append(stream_id, result.is_ok()).await;
        result
    }

    async fn read_stream(
        &self,
        stream_id: &str,
        from: u64,
        max: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let events = self.inner.read_stream(stream_id, from, max).await;
        self.hooks.after_read_stream(stream_id).await;
        events
    }

    async fn read_all(
        &self,
        after: u64,
        max: usize,
        filter: &EventFilter,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_all(after, max, filter).await
    }

    async fn stream_version(&self, stream_id: &str) -> Result<u64, StoreError> {
        self.inner.stream_version(stream_id).await
    }

    async fn head_position(&self) -> Result<u64, StoreError> {
        self.inner.head_position().await
    }

    fn subscribe(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        self.inner.subscribe()
    }

    fn catalog(&self) -> &Catalog {
        self.inner.catalog()
    }
}

#[async_trait]
impl<St: CheckpointStore, H: Hooks> CheckpointStore for Hooked<St, H> {
    async fn checkpoint(&self, name: &str) -> Result<u64, StoreError> {
        self.inner.checkpoint(name).await
    }

    async fn move_checkpoint(&self, name: &str, from: u64, to: u64) -> Result<bool, StoreError> {
        self.inner.move_checkpoint(name, from, to).await
    }
}

#[async_trait]
impl<St: SagaStore, H: Hooks> SagaStore for Hooked<St, H> {
    async fn keep_open_saga(&self, open: &OpenSaga) -> Result<(), StoreError> {
        self.hooks.before_keep_open_saga(open).await;
        self.inner.keep_open_saga(open).await?;
        self.hooks.after_keep_open_saga(open).await;
        Ok(())
    }

    async fn forget_open_saga(&self, saga: &str, instance: &str) -> Result<(), StoreError> {
        self.inner.forget_open_saga(saga, instance).await
    }

    async fn open_sagas(&self, saga: &str) -> Result<Vec<OpenSaga>, StoreError> {
        self.inner.open_sagas(saga).await
    }

    async fn due_sagas(
        &self,
        saga: &str,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OpenSaga>, StoreError> {
        self.inner.due_sagas(saga, now, limit).await
    }
}
