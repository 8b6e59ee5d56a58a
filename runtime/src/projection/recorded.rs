//! The envelope a projection handler sees with each event.

use std::ops::Deref;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::store::{Metadata, RecordedEvent};

/// A decoded event with its envelope, borrowed from the recorded event: what a [`Project`](crate::Project)
/// handler sees. Dereferences to the payload, so `deposit.amount` reads the payload's field
/// and `deposit.stream_id` the envelope's (an envelope field wins over a payload field of
/// the same name; `deposit.event.position` always reads the payload).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Recorded<'a, E> {
    /// The event's global position.
    pub position: u64,
    /// The stream it belongs to.
    pub stream_id: &'a str,
    /// Its version in the stream.
    pub stream_version: u64,
    /// Its id.
    pub event_id: Uuid,
    /// The stored type name.
    pub event_type: &'a str,
    /// Correlation, causation and user key/values.
    pub metadata: &'a Metadata,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
    /// The payload, decoded (and upcast) to its current version.
    pub event: E,
}

impl<'a, E> Recorded<'a, E> {
    /// `event` with the envelope of `recorded`.
    pub fn new(recorded: &'a RecordedEvent, event: E) -> Self {
        Recorded {
            position: recorded.position,
            stream_id: &recorded.stream_id,
            stream_version: recorded.stream_version,
            event_id: recorded.event_id,
            event_type: &recorded.event_type,
            metadata: &recorded.metadata,
            recorded_at: recorded.recorded_at,
            event,
        }
    }
}

impl<E> Recorded<'_, E> {
    /// The id of the aggregate of kind `A` this event belongs to: the stream id without its
    /// `"{KIND}-"` prefix, or `None` when the stream is not one of `A`'s.
    ///
    /// ```
    /// # use annals::{Aggregate, Apply, Event, Recorded};
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
    /// # struct Opened {}
    /// # #[derive(Event, Clone, Debug, PartialEq)]
    /// # enum OrderEvent { Opened(Opened) }
    /// # #[derive(Debug, thiserror::Error)]
    /// # #[error("e")]
    /// # struct OrderError;
    /// # #[derive(Aggregate, Default)]
    /// # #[aggregate(event = OrderEvent, error = OrderError)]
    /// # struct Order {}
    /// # impl Apply<Opened> for Order { fn apply(&mut self, _: &Opened) {} }
    /// let recorded = annals::store::RecordedEvent {
    ///     position: 1,
    ///     stream_id: Order::stream_id("o-1"),
    ///     stream_version: 1,
    ///     event_id: annals::Uuid::nil(),
    ///     event_type: "Opened".into(),
    ///     schema_version: 1,
    ///     payload: b"{}".to_vec(),
    ///     metadata: Default::default(),
    ///     recorded_at: annals::Utc::now(),
    /// };
    /// let opened = Recorded::new(&recorded, Opened {});
    /// assert_eq!(opened.aggregate_id::<Order>(), Some("o-1"));
    /// ```
    pub fn aggregate_id<A: crate::Aggregate>(&self) -> Option<&str> {
        self.stream_id.strip_prefix(A::KIND)?.strip_prefix('-')
    }
}

impl<E> Deref for Recorded<'_, E> {
    type Target = E;

    fn deref(&self) -> &E {
        &self.event
    }
}
