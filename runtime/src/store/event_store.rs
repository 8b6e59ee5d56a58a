//! The append-only log: the trait every event store implements.

use async_trait::async_trait;

use super::{
    AppendResult, Catalog, EventFilter, EventRef, ExpectedVersion, NewEvent, RecordedEvent,
    StoreError,
};

/// The callback of [`EventStore::visit_stream`]: sees each event in turn, and stops the
/// read by returning `ControlFlow::Break(())`.
pub type StreamVisitor<'v> = dyn FnMut(EventRef<'_>) -> std::ops::ControlFlow<()> + Send + 'v;

/// The callback of [`EventStore::visit_all`]: sees each recorded event in turn, borrowed,
/// and stops the read by returning `ControlFlow::Break(())`.
pub type LogVisitor<'v> = dyn FnMut(&RecordedEvent) -> std::ops::ControlFlow<()> + Send + 'v;

/// The append-only log of events.
#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Appends `events` to `stream_id` atomically, if the stream satisfies `expected`.
    ///
    /// Either every event is recorded, with consecutive stream versions, or none is.
    async fn append(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError>;

    /// Reads up to `max_count` events of `stream_id` with version ≥ `from_version`, in order.
    async fn read_stream(
        &self,
        stream_id: &str,
        from_version: u64,
        max_count: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Hands up to `max_count` events of `stream_id` with version ≥ `from_version`, in
    /// order, to `visitor`, borrowed from the store's buffers; stops early when the visitor
    /// breaks. Returns how many events the store read (so a result below `max_count` means
    /// the end of the stream was reached, unless the visitor broke).
    ///
    /// This is how aggregates load: no copy of a stream id, type name or payload per event.
    /// The default implementation goes through [`read_stream`](EventStore::read_stream).
    async fn visit_stream(
        &self,
        stream_id: &str,
        from_version: u64,
        max_count: usize,
        visitor: &mut StreamVisitor<'_>,
    ) -> Result<usize, StoreError> {
        let events = self.read_stream(stream_id, from_version, max_count).await?;
        for event in &events {
            if visitor(event.as_event_ref()).is_break() {
                break;
            }
        }
        Ok(events.len())
    }

    /// Reads up to `max_count` events of the global log that pass `filter` and come after the
    /// event at `after_position` in the store's order (0: from the start).
    ///
    /// The store's order is the order in which events become visible: a reader that resumes
    /// after the last event it handled never skips an event, even one whose transaction
    /// committed after a later-numbered one (PostgreSQL orders by transaction, then position;
    /// the single-writer stores by position). Positions in a batch therefore increase per
    /// stream, and globally on the single-writer stores.
    async fn read_all(
        &self,
        after_position: u64,
        max_count: usize,
        filter: &EventFilter,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// [`read_all`](EventStore::read_all) handing each event to `visitor`, borrowed where
    /// the store can (the in-memory store hands out its own records, copying nothing;
    /// SQLite and PostgreSQL fill one record per row in place, allocating nothing per
    /// event); stops early when the visitor breaks. Returns how many events the store read.
    /// The record is only valid during the call: a visitor that keeps it clones it.
    async fn visit_all(
        &self,
        after_position: u64,
        max_count: usize,
        filter: &EventFilter,
        visitor: &mut LogVisitor<'_>,
    ) -> Result<usize, StoreError> {
        let events = self.read_all(after_position, max_count, filter).await?;
        for event in &events {
            if visitor(event).is_break() {
                break;
            }
        }
        Ok(events.len())
    }

    /// How many events that pass `filter` come after the event at `after_position` in the
    /// store's order: what [`read_all`](EventStore::read_all) would return from there,
    /// counted (a projection's lag in events). The default implementation reads them.
    async fn count_after(
        &self,
        after_position: u64,
        filter: &EventFilter,
    ) -> Result<u64, StoreError> {
        const PAGE: usize = 1_000;
        let (mut after, mut count) = (after_position, 0);
        loop {
            let read = self
                .visit_all(after, PAGE, filter, &mut |event| {
                    after = event.position;
                    std::ops::ControlFlow::Continue(())
                })
                .await?;
            count += read as u64;
            if read < PAGE {
                return Ok(count);
            }
        }
    }

    /// Waits until every append that completed before this call is visible to
    /// [`read_all`](EventStore::read_all), or `timeout` passes; returns whether it is.
    ///
    /// Immediate on the single-writer stores. On PostgreSQL, an event becomes visible to
    /// `read_all` once every transaction that started before it has ended (that is what
    /// keeps readers from skipping late commits), so right after an append a concurrent
    /// writer's open transaction can hide it for a moment; this waits that moment out.
    async fn wait_for_visible_appends(
        &self,
        timeout: std::time::Duration,
    ) -> Result<bool, StoreError> {
        let _ = timeout;
        Ok(true)
    }

    /// Wake-ups for live readers: a receiver of the head position that changes after
    /// appends, or `None` when the store cannot tell (readers then poll). Values may be
    /// skipped; the log is the source of truth.
    fn subscribe(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        None
    }

    /// The current version of `stream_id` (0 when it has no events).
    async fn stream_version(&self, stream_id: &str) -> Result<u64, StoreError>;

    /// The position of the last event in the global log (0 when empty).
    async fn head_position(&self) -> Result<u64, StoreError>;

    /// The types claiming names in this log, shared by the store's clones: repositories
    /// and projection runners claim their stream kinds and event names here when they are
    /// built. A store wrapping another hands out the inner store's.
    fn catalog(&self) -> &Catalog;
}

/// What every store checks before an append: a stream id it can hold, and at least one
/// event.
pub(crate) fn check_append(stream_id: &str, events: &[NewEvent]) -> Result<(), StoreError> {
    check_stream_id(stream_id)?;
    if events.is_empty() {
        return Err(StoreError::EmptyAppend {
            stream_id: stream_id.to_owned(),
        });
    }
    Ok(())
}

/// Rejects the stream ids no store holds: empty, or with a NUL character (which SQL text
/// columns cannot hold).
pub(crate) fn check_stream_id(stream_id: &str) -> Result<(), StoreError> {
    let invalid = |reason| {
        Err(StoreError::InvalidStreamId {
            stream_id: stream_id.to_owned(),
            reason,
        })
    };
    if stream_id.is_empty() {
        return invalid("a stream id cannot be empty");
    }
    if stream_id.contains('\0') {
        return invalid("a stream id cannot contain a NUL character");
    }
    Ok(())
}
