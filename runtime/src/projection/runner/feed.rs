//! The log's tail, read once for all the projections of a runner.
//!
//! Caught up, every projection is woken by every append and reads the few events after its
//! checkpoint: with many projections that is a query per projection per append, and on
//! PostgreSQL the server's work grows with their number. The feed reads the tail once for
//! all of them: it keeps a window of the latest events of the log, in the store's order,
//! and a caught-up projection takes the events it consumes from there. A read the window
//! cannot serve (a projection catching up from far behind, or whose checkpoint left the
//! window) goes to the store, as without the feed.
//!
//! Freshness: a read through the feed waits for a refresh of the window that *started
//! after the read did*, so a projection that comes back caught up has seen every append
//! made before its read began (what [`wait_for`](super::ProjectionHandle::wait_for) relies
//! on). Refreshes are single-flight: the projections woken by one append share one, and
//! share one wait for that append to become visible (on PostgreSQL an older open
//! transaction can hide it for a while).
//!
//! Where a projection is in the window: the event at its checkpoint, found by position; or,
//! after a read of the store that came back caught up, the window's end as it was when
//! that read began (every event up to there was visible to it), with the checkpoint as a
//! barrier: should the checkpoint's event come into the window later (it was newer than
//! the window's end), the events up to it have been handled and are passed over. A
//! projection's place is used only while its checkpoint is the one the place was taken
//! at: a handler failure, a skip of a row or a rebuild moves the checkpoint elsewhere, and
//! the place is looked up again.

use std::collections::{HashMap, VecDeque};
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::watch;

use crate::store::{
    AppendResult, Catalog, EventFilter, EventStore, ExpectedVersion, HiddenAppends, LogVisitor,
    NewEvent, RecordedEvent, StoreError, StreamVisitor,
};

/// The most events the window keeps; older ones leave it.
const WINDOW: usize = 16_384;

/// How many events one read of a refresh asks the store for.
const REFRESH_BATCH: usize = 1_024;

/// The window of the log's tail that a runner's projections share.
pub(super) struct Feed {
    window: Mutex<Window>,
    /// Held by the refresh in flight.
    refreshing: tokio::sync::Mutex<()>,
    /// Held by the wait for visible appends in flight.
    checking: tokio::sync::Mutex<()>,
}

struct Window {
    /// The events, in the store's order; `events[i]` has sequence number `first_seq + i`.
    events: VecDeque<Arc<RecordedEvent>>,
    first_seq: u64,
    /// The sequence number of each event in the window, by position.
    by_position: HashMap<u64, u64>,
    /// The position the next refresh reads after; `None` until the first read.
    cursor: Option<u64>,
    /// Refreshes started, and the number of the last one completed.
    started: u64,
    completed: u64,
    /// Waits for visible appends started, the number of the last one completed, and
    /// what it found.
    checks_started: u64,
    checks_completed: u64,
    visible: bool,
}

impl Window {
    /// The sequence number the next event will get.
    fn next_seq(&self) -> u64 {
        self.first_seq + self.events.len() as u64
    }

    fn push(&mut self, event: RecordedEvent) {
        let seq = self.next_seq();
        self.cursor = Some(event.position);
        self.by_position.insert(event.position, seq);
        self.events.push_back(Arc::new(event));
        while self.events.len() > WINDOW {
            if let Some(old) = self.events.pop_front() {
                self.by_position.remove(&old.position);
                self.first_seq += 1;
            }
        }
    }
}

/// Where a projection is in the window: the events up to `seq` (excluded) are behind it.
#[derive(Debug, Clone, Copy)]
struct Place {
    /// The sequence number of the first event not yet handed to the projection.
    seq: u64,
    /// The checkpoint the place holds for: another means the projection moved elsewhere.
    checkpoint: u64,
    /// A checkpoint that may come into the window later: the events up to it, included,
    /// are passed over (see the module's documentation).
    barrier: Option<u64>,
}

impl Feed {
    pub(super) fn new() -> Arc<Self> {
        Arc::new(Feed {
            window: Mutex::new(Window {
                events: VecDeque::new(),
                first_seq: 0,
                by_position: HashMap::new(),
                cursor: None,
                started: 0,
                completed: 0,
                checks_started: 0,
                checks_completed: 0,
                visible: true,
            }),
            refreshing: tokio::sync::Mutex::new(()),
            checking: tokio::sync::Mutex::new(()),
        })
    }

    fn window(&self) -> std::sync::MutexGuard<'_, Window> {
        self.window.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for the appends made before this call to become visible to readers (at most
    /// `timeout`): one wait for all the projections woken by one append, joined if it
    /// started after this call, run otherwise.
    async fn visible<S: EventStore>(
        &self,
        store: &S,
        timeout: Duration,
    ) -> Result<bool, StoreError> {
        let needed = self.window().checks_started + 1;
        let _flight = self.checking.lock().await;
        let number = {
            let mut window = self.window();
            if window.checks_completed >= needed {
                return Ok(window.visible);
            }
            window.checks_started += 1;
            window.checks_started
        };
        let visible = store.wait_for_visible_appends(timeout).await?;
        let mut window = self.window();
        window.checks_completed = number;
        window.visible = visible;
        Ok(visible)
    }

    /// Makes sure a refresh numbered `needed` or later has completed: joins the one in
    /// flight if it started late enough, else runs one.
    async fn refreshed<S: EventStore>(&self, store: &S, needed: u64) -> Result<(), StoreError> {
        let _flight = self.refreshing.lock().await;
        let (number, cursor) = {
            let mut window = self.window();
            if window.completed >= needed {
                return Ok(());
            }
            window.started += 1;
            (window.started, window.cursor)
        };
        let Some(mut after) = cursor else {
            // No window yet: nothing can be served from it.
            self.window().completed = number;
            return Ok(());
        };
        loop {
            let mut read = Vec::new();
            let count = store
                .visit_all(after, REFRESH_BATCH, &EventFilter::all(), &mut |event| {
                    read.push(event.clone());
                    ControlFlow::Continue(())
                })
                .await?;
            let mut window = self.window();
            for event in read {
                after = event.position;
                window.push(event);
            }
            if count < REFRESH_BATCH {
                window.completed = number;
                return Ok(());
            }
        }
    }
}

/// One projection's reads: through the feed while it is caught up, from the store
/// otherwise. The store the projection's sink reads from.
pub(super) struct FeedReader<S> {
    store: S,
    feed: Arc<Feed>,
    place: Mutex<Option<Place>>,
}

impl<S: EventStore> FeedReader<S> {
    pub(super) fn new(store: S, feed: Arc<Feed>) -> Self {
        FeedReader {
            store,
            feed,
            place: Mutex::new(None),
        }
    }

    fn place(&self) -> std::sync::MutexGuard<'_, Option<Place>> {
        self.place.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Hands over the window's events after `place` that pass `filter`, at most
    /// `max_count`; `None` when the window no longer holds the place.
    fn serve(
        &self,
        mut place: Place,
        max_count: usize,
        filter: &EventFilter,
        visitor: &mut LogVisitor<'_>,
    ) -> Option<usize> {
        // The events are taken out of the lock before the visitor sees them: a handler
        // never runs under it.
        let (events, next_seq) = {
            let window = self.feed.window();
            if place.seq < window.first_seq {
                return None;
            }
            let start = (place.seq - window.first_seq) as usize;
            let mut start = start.min(window.events.len());
            if let Some(barrier) = place.barrier
                && let Some(&seq) = window.by_position.get(&barrier)
                && seq >= place.seq
            {
                start = (seq + 1 - window.first_seq) as usize;
            }
            let mut taken = Vec::new();
            let mut seq = window.first_seq + start as u64;
            for event in window.events.range(start..) {
                if taken.len() == max_count {
                    break;
                }
                seq += 1;
                if filter.matches(&event.event_type) {
                    taken.push(Arc::clone(event));
                }
            }
            (taken, seq)
        };
        let mut handed = 0;
        let mut last = place.checkpoint;
        let mut broke = false;
        for event in &events {
            handed += 1;
            last = event.position;
            if visitor(event).is_break() {
                broke = true;
                break;
            }
        }
        place = Place {
            seq: if broke || handed < events.len() {
                // Only the handed events are behind it; the place is checked again.
                0
            } else {
                next_seq
            },
            checkpoint: last,
            // Passed over if it came into the window; else it never will (see above).
            barrier: None,
        };
        *self.place() = (place.seq != 0).then_some(place);
        Some(handed)
    }
}

#[async_trait::async_trait]
impl<S: EventStore> EventStore for FeedReader<S> {
    async fn append(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        self.store.append(stream_id, expected, events).await
    }

    async fn read_stream(
        &self,
        stream_id: &str,
        from_version: u64,
        max_count: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.store
            .read_stream(stream_id, from_version, max_count)
            .await
    }

    async fn visit_stream(
        &self,
        stream_id: &str,
        from_version: u64,
        max_count: usize,
        visitor: &mut StreamVisitor<'_>,
    ) -> Result<usize, StoreError> {
        self.store
            .visit_stream(stream_id, from_version, max_count, visitor)
            .await
    }

    async fn read_all(
        &self,
        after_position: u64,
        max_count: usize,
        filter: &EventFilter,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.store.read_all(after_position, max_count, filter).await
    }

    /// From the window when the projection has a place in it (after a refresh that
    /// started after this read), from the store otherwise.
    async fn visit_all(
        &self,
        after_position: u64,
        max_count: usize,
        filter: &EventFilter,
        visitor: &mut LogVisitor<'_>,
    ) -> Result<usize, StoreError> {
        let (needed, place) = {
            let window = self.feed.window();
            let kept = (*self.place()).filter(|place| place.checkpoint == after_position);
            let found = || {
                window.by_position.get(&after_position).map(|&seq| Place {
                    seq: seq + 1,
                    checkpoint: after_position,
                    barrier: None,
                })
            };
            (window.started + 1, kept.or_else(found))
        };
        if let Some(place) = place {
            self.feed.refreshed(&self.store, needed).await?;
            if let Some(handed) = self.serve(place, max_count, filter, visitor) {
                return Ok(handed);
            }
        }
        // From the store. Should it come back caught up, the projection has seen every
        // event the window held when the read began.
        let window_end = {
            let window = self.feed.window();
            (window.cursor.is_some()).then(|| window.next_seq())
        };
        let mut last = after_position;
        let mut broke = false;
        let read = self
            .store
            .visit_all(after_position, max_count, filter, &mut |event| {
                last = event.position;
                let flow = visitor(event);
                broke = flow.is_break();
                flow
            })
            .await?;
        let caught_up = read < max_count && !broke;
        *self.place() = match window_end {
            Some(seq) if caught_up => Some(Place {
                seq,
                checkpoint: last,
                barrier: Some(last),
            }),
            // No window yet: it starts here, at a place this read has made safe to read on
            // from (the position of an event the store's order has settled, or 0).
            None if caught_up => {
                let mut window = self.feed.window();
                window.cursor.is_none().then(|| {
                    window.cursor = Some(last);
                    Place {
                        seq: window.next_seq(),
                        checkpoint: last,
                        barrier: None,
                    }
                })
            }
            _ => None,
        };
        Ok(read)
    }

    async fn count_after(
        &self,
        after_position: u64,
        filter: &EventFilter,
    ) -> Result<u64, StoreError> {
        self.store.count_after(after_position, filter).await
    }

    fn subscribe(&self) -> Option<watch::Receiver<u64>> {
        self.store.subscribe()
    }

    /// One wait for all the projections that wait at once.
    async fn wait_for_visible_appends(&self, timeout: Duration) -> Result<bool, StoreError> {
        self.feed.visible(&self.store, timeout).await
    }

    async fn hidden_appends(&self) -> Result<Option<HiddenAppends>, StoreError> {
        self.store.hidden_appends().await
    }

    async fn stream_version(&self, stream_id: &str) -> Result<u64, StoreError> {
        self.store.stream_version(stream_id).await
    }

    async fn head_position(&self) -> Result<u64, StoreError> {
        self.store.head_position().await
    }

    async fn locate_events(
        &self,
        event_ids: &[uuid::Uuid],
    ) -> Result<Vec<crate::store::EventLocation>, StoreError> {
        self.store.locate_events(event_ids).await
    }

    fn catalog(&self) -> &Catalog {
        self.store.catalog()
    }
}
