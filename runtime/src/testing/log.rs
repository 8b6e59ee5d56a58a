//! The log the fixtures' given events are recorded on: global positions in the order
//! given, a version per stream.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::event::Event;
use crate::store::{Metadata, RecordedEvent};

#[derive(Default)]
pub(crate) struct GivenLog {
    position: u64,
    versions: HashMap<String, u64>,
}

impl GivenLog {
    /// `event` as the store would record it next on `stream_id`, at `at`; panics when it
    /// does not encode.
    #[track_caller]
    pub(crate) fn record<E: Event>(
        &mut self,
        stream_id: &str,
        event: &E,
        metadata: Metadata,
        at: DateTime<Utc>,
    ) -> RecordedEvent {
        let new = event
            .to_new_event(metadata)
            .unwrap_or_else(|error| panic!("a given event does not encode: {error}"));
        let version = self.versions.entry(stream_id.to_owned()).or_default();
        *version += 1;
        self.position += 1;
        new.into_recorded(self.position, stream_id, *version, at)
    }
}
