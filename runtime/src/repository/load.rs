//! Loading an aggregate: snapshot + tail through borrowed rows, temporal loads, and the
//! checks that keep a wrong snapshot or a broken stream from becoming state.

use std::ops::ControlFlow;

use chrono::{DateTime, Utc};

use super::{LoadError, Loaded, Repository};
use crate::aggregate::Aggregate;
use crate::event::{DecodeFailure, Event, EventDecodeError};
use crate::store::{EventRef, EventStore, SnapshotStore, StoreError};
use uuid::Uuid;

fn broken_stream(stream_id: &str, loaded: u64, found: u64) -> LoadError {
    LoadError::BrokenStream {
        stream_id: stream_id.to_owned(),
        expected: loaded + 1,
        found,
    }
}

impl<A, S> Repository<A, S>
where
    A: Aggregate,
    S: EventStore + SnapshotStore,
{
    /// The current state of aggregate `id` (snapshot + tail). A stream with no events loads
    /// as `Default` at version 0.
    pub async fn load(&self, id: &str) -> Result<Loaded<A>, LoadError> {
        let stream_id = A::stream_id(id);
        self.load_stream(&stream_id, u64::MAX, true).await
    }

    /// The state of aggregate `id` rebuilt from all its events, ignoring snapshots.
    pub async fn load_from_events(&self, id: &str) -> Result<Loaded<A>, LoadError> {
        let stream_id = A::stream_id(id);
        self.load_stream(&stream_id, u64::MAX, false).await
    }

    /// The state of aggregate `id` as of stream version `version` (its first `version`
    /// events; fewer if the stream is shorter).
    pub async fn load_at_version(&self, id: &str, version: u64) -> Result<Loaded<A>, LoadError> {
        let stream_id = A::stream_id(id);
        self.load_stream(&stream_id, version, true).await
    }

    /// The state of aggregate `id` as of `at`: the events recorded at or before it.
    pub async fn load_as_of(&self, id: &str, at: DateTime<Utc>) -> Result<Loaded<A>, LoadError> {
        let stream_id = A::stream_id(id);
        // Snapshots carry no event timestamps, so a temporal load replays from the start,
        // reading whole records (it needs `recorded_at`, which the hot path does not read).
        let mut loaded = Loaded {
            state: A::default(),
            version: 0,
            snapshot_version: None,
        };
        loop {
            let batch = self
                .store
                .read_stream(&stream_id, loaded.version + 1, self.read_batch)
                .await?;
            for recorded in &batch {
                if recorded.recorded_at > at {
                    return Ok(loaded);
                }
                if recorded.stream_version != loaded.version + 1 {
                    return Err(broken_stream(
                        &stream_id,
                        loaded.version,
                        recorded.stream_version,
                    ));
                }
                loaded
                    .state
                    .apply_event(&A::Event::decode_recorded(recorded)?);
                loaded.version = recorded.stream_version;
            }
            if batch.len() < self.read_batch {
                return Ok(loaded);
            }
        }
    }

    /// Loads through [`EventStore::visit_stream`]: borrowed rows, no copy per event.
    pub(super) async fn load_stream(
        &self,
        stream_id: &str,
        up_to_version: u64,
        use_snapshot: bool,
    ) -> Result<Loaded<A>, LoadError> {
        let mut loaded = Loaded {
            state: A::default(),
            version: 0,
            snapshot_version: None,
        };
        let mut snapshot_event_id = None;
        if use_snapshot
            && let Some((state, version, event_id)) =
                self.load_snapshot(stream_id, up_to_version).await?
        {
            loaded = Loaded {
                state,
                version,
                snapshot_version: Some(version),
            };
            snapshot_event_id = Some(event_id);
        }
        // With a snapshot at version s, the first read starts at s itself: the event there,
        // with the id the snapshot recorded, proves the snapshot describes this stream up to
        // there (a snapshot whose version was changed, restored apart from its events, or
        // ahead of them, is dropped and the state replayed from the start).
        let mut check_snapshot = loaded.snapshot_version.is_some();
        let mut broken: Option<u64> = None;
        let mut undecodable: Option<(u64, DecodeFailure)> = None;
        while loaded.version < up_to_version || check_snapshot {
            let from = if check_snapshot {
                loaded.version
            } else {
                loaded.version + 1
            };
            let wanted = (up_to_version - loaded.version).min(self.read_batch as u64) as usize
                + usize::from(check_snapshot);
            let mut snapshot_confirmed = !check_snapshot;
            let mut visitor = |event: EventRef<'_>| {
                if !snapshot_confirmed {
                    snapshot_confirmed = event.stream_version == loaded.version
                        && event.event_id.is_some()
                        && event.event_id == snapshot_event_id;
                    return if snapshot_confirmed {
                        ControlFlow::Continue(())
                    } else {
                        ControlFlow::Break(())
                    };
                }
                if event.stream_version != loaded.version + 1 {
                    broken = Some(event.stream_version);
                    return ControlFlow::Break(());
                }
                match A::Event::decode(event.event_type, event.schema_version, event.payload) {
                    Ok(decoded) => {
                        loaded.state.apply_event(&decoded);
                        loaded.version = event.stream_version;
                        ControlFlow::Continue(())
                    }
                    Err(reason) => {
                        undecodable = Some((event.stream_version, reason));
                        ControlFlow::Break(())
                    }
                }
            };
            let read = self
                .store
                .visit_stream(stream_id, from, wanted, &mut visitor)
                .await?;
            if let Some(found) = broken {
                return Err(broken_stream(stream_id, loaded.version, found));
            }
            if let Some((version, reason)) = undecodable {
                return Err(self.decode_error(stream_id, version, reason).await);
            }
            if check_snapshot {
                check_snapshot = false;
                if !snapshot_confirmed {
                    tracing::warn!(
                        stream_id,
                        snapshot_version = loaded.version,
                        "the stream does not hold the snapshot's last event at its version; ignoring the snapshot"
                    );
                    loaded = Loaded {
                        state: A::default(),
                        version: 0,
                        snapshot_version: None,
                    };
                    continue;
                }
            }
            if read < wanted {
                break;
            }
        }
        Ok(loaded)
    }

    /// The full error for an event that did not decode: the hot path reads no positions, so
    /// the record is read again for the error to name everything an operator needs.
    async fn decode_error(
        &self,
        stream_id: &str,
        version: u64,
        reason: DecodeFailure,
    ) -> LoadError {
        match self.store.read_stream(stream_id, version, 1).await {
            Ok(records) if !records.is_empty() => {
                let recorded = &records[0];
                LoadError::Decode(EventDecodeError {
                    stream_id: stream_id.to_owned(),
                    stream_version: version,
                    position: recorded.position,
                    event_type: recorded.event_type.clone(),
                    schema_version: recorded.schema_version,
                    reason,
                })
            }
            Ok(_) => LoadError::BrokenStream {
                stream_id: stream_id.to_owned(),
                expected: version,
                found: 0,
            },
            Err(error) => LoadError::Store(error),
        }
    }

    /// The stored snapshot of `stream_id` (its state, version and last event's id), if the
    /// aggregate takes snapshots, the snapshot reads, its schema version and shape are
    /// current, it decodes, and it is not past `up_to_version`.
    async fn load_snapshot(
        &self,
        stream_id: &str,
        up_to_version: u64,
    ) -> Result<Option<(A, u64, Uuid)>, StoreError> {
        let Some(format) = A::snapshot_format() else {
            return Ok(None);
        };
        let snapshot = match self.store.load_snapshot(stream_id).await {
            Ok(Some(snapshot)) => snapshot,
            Ok(None) => return Ok(None),
            Err(error @ StoreError::CorruptSnapshot { .. }) => {
                tracing::warn!(stream_id, %error, "rebuilding from events");
                return Ok(None);
            }
            Err(error) => return Err(error),
        };
        if snapshot.schema_version != format.version || snapshot.stream_version > up_to_version {
            return Ok(None);
        }
        if snapshot.shape != format.shape {
            tracing::info!(
                stream_id,
                snapshot_version = snapshot.stream_version,
                "the snapshot was taken of a state of another shape; rebuilding from events"
            );
            return Ok(None);
        }
        match (format.decode)(&snapshot.payload) {
            Ok(state) => Ok(Some((state, snapshot.stream_version, snapshot.event_id))),
            Err(error) => {
                tracing::warn!(
                    stream_id,
                    snapshot_version = snapshot.stream_version,
                    %error,
                    "snapshot does not decode; rebuilding from events"
                );
                Ok(None)
            }
        }
    }
}
