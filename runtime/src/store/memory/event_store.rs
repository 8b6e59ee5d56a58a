//! The in-memory log.

use async_trait::async_trait;
use chrono::Utc;
use tokio::sync::watch;
use uuid::Uuid;

use super::{InMemoryStore, start_index};
use crate::store::{
    AppendResult, Catalog, EventFilter, EventLocation, EventStore, ExpectedVersion, LogVisitor,
    NewEvent, RecordedEvent, Resent, StoreError, StreamVisitor, check_append, resent,
};

#[async_trait]
impl EventStore for InMemoryStore {
    async fn append(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        check_append(stream_id, &events)?;

        let mut guard = self.write();
        let state = &mut *guard;

        // Validate everything before the first mutation: the append is all or nothing. A
        // re-sent append (its ids already stored) reports its first result.
        let stored = state.locate(events.iter().map(|event| event.event_id));
        match resent(stream_id, expected, &events, &stored) {
            Resent::No => {}
            Resent::Yes(result) => return Ok(result),
            Resent::Clash(error) => return Err(error),
        }
        let current = state.stream_version(stream_id);
        if !expected.accepts(current) {
            return Err(StoreError::WrongExpectedVersion {
                stream_id: stream_id.to_owned(),
                expected,
                actual: current,
            });
        }

        // One timestamp for the whole append, taken under the lock and never earlier than the
        // previous append's, so `recorded_at` does not decrease along the global order even
        // if the wall clock steps back.
        let now = Utc::now();
        let recorded_at = match state.log.last() {
            Some(last) if last.recorded_at > now => last.recorded_at,
            _ => now,
        };

        let count = events.len();
        let first_index = state.log.len();
        state.log.reserve(count);

        let mut positions = Vec::with_capacity(count);
        for (offset, event) in events.into_iter().enumerate() {
            let index = first_index + offset;
            let position = index as u64 + 1;
            let stream_version = current + offset as u64 + 1;
            state.event_ids.insert(event.event_id, index);
            state
                .log
                .push(event.into_recorded(position, stream_id, stream_version, recorded_at));
            positions.push(position);
        }

        let appended = first_index..first_index + count;
        match state.streams.get_mut(stream_id) {
            Some(indices) => indices.extend(appended),
            None => {
                state
                    .streams
                    .insert(stream_id.to_owned(), appended.collect());
            }
        }

        self.shared.head.advance(state.log.len() as u64);

        Ok(AppendResult {
            stream_version: current + count as u64,
            positions,
            recorded_at,
        })
    }

    async fn read_stream(
        &self,
        stream_id: &str,
        from_version: u64,
        max_count: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let state = self.read();
        let Some(indices) = state.streams.get(stream_id) else {
            return Ok(Vec::new());
        };
        // Versions are 1-based and gap-free, so version `v` is at `indices[v - 1]`.
        let Some(tail) = indices.get(start_index(from_version)..) else {
            return Ok(Vec::new());
        };
        let tail = &tail[..tail.len().min(max_count)];
        Ok(tail.iter().map(|&index| state.log[index].clone()).collect())
    }

    async fn visit_stream(
        &self,
        stream_id: &str,
        from_version: u64,
        max_count: usize,
        visitor: &mut StreamVisitor<'_>,
    ) -> Result<usize, StoreError> {
        let state = self.read();
        let Some(tail) = state
            .streams
            .get(stream_id)
            .and_then(|indices| indices.get(start_index(from_version)..))
        else {
            return Ok(0);
        };
        let tail = &tail[..tail.len().min(max_count)];
        for &index in tail {
            if visitor(state.log[index].as_event_ref()).is_break() {
                break;
            }
        }
        Ok(tail.len())
    }

    async fn read_all(
        &self,
        after_position: u64,
        max_count: usize,
        filter: &EventFilter,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let state = self.read();
        // Position `p` is at index `p - 1`, so the events after `p` start at index `p`.
        let after = usize::try_from(after_position).unwrap_or(usize::MAX);
        let Some(rest) = state.log.get(after..) else {
            return Ok(Vec::new());
        };
        if filter.event_types().is_none() {
            return Ok(rest[..rest.len().min(max_count)].to_vec());
        }
        // Skipped events are only looked at, never cloned.
        Ok(rest
            .iter()
            .filter(|event| filter.matches(&event.event_type))
            .take(max_count)
            .cloned()
            .collect())
    }

    fn subscribe(&self) -> Option<watch::Receiver<u64>> {
        Some(self.shared.head.subscribe())
    }

    async fn visit_all(
        &self,
        after_position: u64,
        max_count: usize,
        filter: &EventFilter,
        visitor: &mut LogVisitor<'_>,
    ) -> Result<usize, StoreError> {
        let state = self.read();
        let after = usize::try_from(after_position).unwrap_or(usize::MAX);
        let Some(rest) = state.log.get(after..) else {
            return Ok(0);
        };
        let mut read = 0;
        for event in rest
            .iter()
            .filter(|event| filter.matches(&event.event_type))
            .take(max_count)
        {
            read += 1;
            if visitor(event).is_break() {
                break;
            }
        }
        Ok(read)
    }

    async fn stream_version(&self, stream_id: &str) -> Result<u64, StoreError> {
        Ok(self.read().stream_version(stream_id))
    }

    async fn head_position(&self) -> Result<u64, StoreError> {
        Ok(self.read().log.len() as u64)
    }

    async fn locate_events(&self, event_ids: &[Uuid]) -> Result<Vec<EventLocation>, StoreError> {
        Ok(self.read().locate(event_ids.iter().copied()))
    }

    fn catalog(&self) -> &Catalog {
        &self.shared.catalog
    }
}
