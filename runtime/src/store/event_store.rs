//! The append-only log: the trait every event store implements.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

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

    /// The committed appends readers cannot see yet, and what holds them back, if any:
    /// what a projection that waits for visible appends in vain is waiting for. Only
    /// PostgreSQL has any (see [`HiddenAppends`](crate::store::HiddenAppends)).
    async fn hidden_appends(&self) -> Result<Option<crate::store::HiddenAppends>, StoreError> {
        Ok(None)
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

    /// Where the events with `event_ids` are stored, for those the log holds, in any order:
    /// how the command path finds what a command with an idempotency key recorded.
    ///
    /// By default, a walk of the whole log: a store with an index on event ids (every
    /// store annals ships) answers from it instead.
    async fn locate_events(&self, event_ids: &[Uuid]) -> Result<Vec<EventLocation>, StoreError> {
        let wanted: std::collections::HashSet<&Uuid> = event_ids.iter().collect();
        let mut found = Vec::new();
        let mut after = 0;
        loop {
            let mut last = None;
            let read = self
                .visit_all(after, 1_000, &EventFilter::default(), &mut |event| {
                    last = Some(event.position);
                    if wanted.contains(&event.event_id) {
                        found.push(EventLocation::new(
                            event.event_id,
                            event.stream_id.clone(),
                            event.stream_version,
                            event.position,
                            event.recorded_at,
                        ));
                    }
                    std::ops::ControlFlow::Continue(())
                })
                .await?;
            match last {
                Some(position) if read == 1_000 && found.len() < wanted.len() => after = position,
                _ => return Ok(found),
            }
        }
    }

    /// The types claiming names in this log, shared by the store's clones: repositories
    /// and projection runners claim their stream kinds and event names here when they are
    /// built. A store wrapping another hands out the inner store's.
    fn catalog(&self) -> &Catalog;

    /// The store as background workers (projection runners) use it: the same log, through
    /// resources of their own where the store has any, so that however many workers run,
    /// they never wait for, or make the command path wait for, the same connections. On
    /// PostgreSQL, a pool of its own
    /// ([`with_worker_pool_size`](crate::store::PostgresOptions::with_worker_pool_size)); a
    /// clone elsewhere. A store wrapping another should wrap the inner store's.
    fn for_workers(&self) -> Self
    where
        Self: Sized + Clone,
    {
        self.clone()
    }
}

/// The longest stream id a store holds, in bytes (PostgreSQL's index rows hold about 2.7 KB,
/// and a stream id is a name, not a document).
pub const MAX_STREAM_ID_BYTES: usize = 1024;

/// The longest event type name a store holds, in bytes.
pub const MAX_EVENT_TYPE_BYTES: usize = 256;

/// What every store checks before an append, so the rules are the same on every store and a
/// refusal is a typed error before anything is written: a stream id it can hold, at least
/// one event, and events whose type name, payload and metadata every store can keep (no
/// NUL character anywhere: PostgreSQL's text and `jsonb` refuse it).
pub(crate) fn check_append(stream_id: &str, events: &[NewEvent]) -> Result<(), StoreError> {
    check_stream_id(stream_id)?;
    if events.is_empty() {
        return Err(StoreError::EmptyAppend {
            stream_id: stream_id.to_owned(),
        });
    }
    for event in events {
        let invalid = |reason| {
            Err(StoreError::InvalidEvent {
                stream_id: stream_id.to_owned(),
                event_id: event.event_id,
                reason,
            })
        };
        if event.event_type.is_empty() {
            return invalid("its type name is empty");
        }
        if event.event_type.len() > MAX_EVENT_TYPE_BYTES {
            return invalid("its type name is longer than 256 bytes");
        }
        if event.event_type.contains('\0') {
            return invalid("its type name contains a NUL character");
        }
        if json_holds_nul(&event.payload) {
            return invalid(
                "its payload holds a NUL character (`\\u0000`), which PostgreSQL's jsonb cannot store",
            );
        }
        let metadata = &event.metadata.extra;
        if metadata
            .iter()
            .any(|(k, v)| k.contains('\0') || v.contains('\0'))
        {
            return invalid("its metadata holds a NUL character");
        }
    }
    if events.len() > 1 {
        let mut ids: Vec<Uuid> = events.iter().map(|event| event.event_id).collect();
        ids.sort_unstable();
        if let Some(pair) = ids.windows(2).find(|pair| pair[0] == pair[1]) {
            return Err(StoreError::InvalidEvent {
                stream_id: stream_id.to_owned(),
                event_id: pair[0],
                reason: "its id appears twice in the append",
            });
        }
    }
    Ok(())
}

/// Rejects the stream ids no store holds: empty, longer than [`MAX_STREAM_ID_BYTES`], or
/// with a NUL character (which SQL text columns cannot hold).
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
    if stream_id.len() > MAX_STREAM_ID_BYTES {
        return invalid("a stream id cannot be longer than 1024 bytes");
    }
    if stream_id.contains('\0') {
        return invalid("a stream id cannot contain a NUL character");
    }
    Ok(())
}

/// Where an event is stored ([`EventStore::locate_events`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EventLocation {
    /// The event's id.
    pub event_id: Uuid,
    /// Its stream.
    pub stream_id: String,
    /// Its version in the stream.
    pub stream_version: u64,
    /// Its position in the log.
    pub position: u64,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
}

impl EventLocation {
    /// A location, for stores implementing [`EventStore::locate_events`].
    pub fn new(
        event_id: Uuid,
        stream_id: String,
        stream_version: u64,
        position: u64,
        recorded_at: DateTime<Utc>,
    ) -> Self {
        EventLocation {
            event_id,
            stream_id,
            stream_version,
            position,
            recorded_at,
        }
    }
}

/// What a store found of an append's event ids already in the log.
#[derive(Debug)]
pub(crate) enum Resent {
    /// None of them: the append is new.
    No,
    /// All of them, in the stream appended to, at consecutive versions in the append's
    /// order, where its expectation put them: a re-sent copy of an append that committed
    /// (a retry after an outcome-unknown failure). Its first result.
    Yes(AppendResult),
    /// Some, otherwise: the ids are in use.
    Clash(StoreError),
}

/// Whether `events`, appended to `stream_id` with `expected`, re-send an append already
/// recorded, given what the log holds of their ids (`stored`, in any order).
pub(crate) fn resent(
    stream_id: &str,
    expected: ExpectedVersion,
    events: &[NewEvent],
    stored: &[EventLocation],
) -> Resent {
    let Some(first_stored) = stored.first() else {
        return Resent::No;
    };
    let clash = |found: &EventLocation| {
        Resent::Clash(StoreError::DuplicateEventId {
            event_id: found.event_id,
            stored_in: found.stream_id.clone(),
            stream_version: found.stream_version,
        })
    };
    let mut in_order = Vec::with_capacity(events.len());
    for event in events {
        match stored.iter().find(|s| s.event_id == event.event_id) {
            Some(found) => in_order.push(found),
            // Some ids are in the log and this one is not: not a copy of one append.
            None => return clash(first_stored),
        }
    }
    let first = in_order[0];
    for (offset, found) in in_order.iter().enumerate() {
        if found.stream_id != stream_id
            || found.stream_version != first.stream_version + offset as u64
        {
            return clash(found);
        }
    }
    if !expected.accepts(first.stream_version - 1) {
        return clash(first);
    }
    let last = in_order[in_order.len() - 1];
    Resent::Yes(AppendResult {
        stream_version: last.stream_version,
        positions: in_order.iter().map(|found| found.position).collect(),
        recorded_at: first.recorded_at,
    })
}

/// Whether JSON text holds a NUL character: a raw zero byte, or the escape `\u0000` (an
/// escaped backslash followed by `u0000` is text, not a NUL).
fn json_holds_nul(json: &[u8]) -> bool {
    let mut i = 0;
    while let Some(offset) = json[i..].iter().position(|&b| b == b'\\' || b == 0) {
        let at = i + offset;
        if json[at] == 0 {
            return true;
        }
        match json.get(at + 1) {
            Some(b'u') if json.get(at + 2..at + 6) == Some(b"0000") => return true,
            Some(_) => i = at + 2,
            None => return false,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::json_holds_nul;

    #[test]
    fn a_nul_in_json_is_found_and_an_escaped_backslash_is_not_one() {
        assert!(json_holds_nul(br#"{"a":"x\u0000y"}"#));
        assert!(json_holds_nul(b"{\"a\":\"x\0\"}"));
        assert!(!json_holds_nul(br#"{"a":"x\\u0000y"}"#));
        assert!(!json_holds_nul(br#"{"a":"\u00e9\n"}"#));
        assert!(!json_holds_nul(br#"{"a":1}"#));
    }
}
