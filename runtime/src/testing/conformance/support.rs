//! What the cases share: names private to a case, events, and asserting wrappers of the
//! store's calls that say what failed.

pub(super) use std::collections::{BTreeMap, HashMap};
pub(super) use std::sync::Arc;
pub(super) use std::sync::atomic::{AtomicBool, Ordering};

pub(super) use chrono::{DateTime, SubsecRound, TimeDelta, Utc};

pub(super) use crate::store::{
    AppendResult, CheckpointStore, EventFilter, EventStore, ExpectedVersion, Metadata, NewEvent,
    Owner, RecordedEvent, Snapshot, SnapshotStore, SqlTarget, SqlValue, StoreError,
};

/// Names private to one run of one case: stream ids and event type names carry the case's
/// name and a random suffix, so cases never see each other's data in a shared store.
pub(super) struct Case {
    prefix: String,
}

impl Case {
    pub(super) fn new(name: &str) -> Self {
        // The random tail of a UUID v7.
        let hex = uuid::Uuid::now_v7().simple().to_string();
        Case {
            prefix: format!("{name}-{}", &hex[16..]),
        }
    }

    pub(super) fn stream(&self, name: &str) -> String {
        format!("{}/{name}", self.prefix)
    }

    /// A SQL identifier private to this run of the case: `t_<random>_<name>`, short
    /// enough for PostgreSQL's 63 bytes.
    pub(super) fn table(&self, name: &str) -> String {
        let random = self.prefix.rsplit('-').next().unwrap_or_default();
        format!("t_{random}_{name}")
    }

    pub(super) fn event_type(&self, name: &str) -> String {
        format!("{}.{name}", self.prefix)
    }

    /// A filter for the given event types of this case.
    pub(super) fn filter(&self, names: &[&str]) -> EventFilter {
        EventFilter::types(names.iter().map(|name| self.event_type(name)))
    }
}

/// A JSON payload `{"n":n}`.
pub(super) fn payload(n: u64) -> Vec<u8> {
    format!(r#"{{"n":{n}}}"#).into_bytes()
}

/// An event of type `event_type` with payload `{"n":n}` and no metadata.
pub(super) fn event(event_type: &str, n: u64) -> NewEvent {
    NewEvent::new(event_type, 1, payload(n), Metadata::default())
}

/// Events `{"n":n}` for each `n` in `ns`.
pub(super) fn events(event_type: &str, ns: impl IntoIterator<Item = u64>) -> Vec<NewEvent> {
    ns.into_iter().map(|n| event(event_type, n)).collect()
}

pub(super) fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("stored payload is not JSON ({e}): {bytes:?}"))
}

/// The `n` of a `{"n":n}` payload.
pub(super) fn n_of(event: &RecordedEvent) -> u64 {
    json(&event.payload)["n"]
        .as_u64()
        .unwrap_or_else(|| panic!("payload has no `n`: {:?}", event.payload))
}

pub(super) fn assert_same_json(actual: &[u8], expected: &[u8]) {
    assert!(
        json(actual) == json(expected),
        "payload changed: stored {} bytes, read back {} bytes",
        expected.len(),
        actual.len()
    );
}

pub(super) fn versions(events: &[RecordedEvent]) -> Vec<u64> {
    events.iter().map(|e| e.stream_version).collect()
}

pub(super) fn positions(events: &[RecordedEvent]) -> Vec<u64> {
    events.iter().map(|e| e.position).collect()
}

pub(super) fn assert_strictly_increasing(values: &[u64], what: &str) {
    for pair in values.windows(2) {
        assert!(
            pair[0] < pair[1],
            "{what} not strictly increasing: {values:?}"
        );
    }
}

pub(super) async fn append<S: EventStore>(
    store: &S,
    stream: &str,
    expected: ExpectedVersion,
    events: Vec<NewEvent>,
) -> AppendResult {
    store
        .append(stream, expected, events)
        .await
        .unwrap_or_else(|e| panic!("append to `{stream}` with {expected:?} failed: {e}"))
}

pub(super) async fn read_stream<S: EventStore>(store: &S, stream: &str) -> Vec<RecordedEvent> {
    store
        .read_stream(stream, 1, usize::MAX)
        .await
        .unwrap_or_else(|e| panic!("reading `{stream}` failed: {e}"))
}

/// The events at and after position `from` (0 and 1 both read from the start): `read_all`
/// reads *after* a position, so this reads after `from - 1`. Waits first until the
/// appends made so far are visible to `read_all` (see `wait_for_visible_appends`).
pub(super) async fn read_all<S: EventStore>(
    store: &S,
    from: u64,
    max_count: usize,
    filter: &EventFilter,
) -> Vec<RecordedEvent> {
    let visible = store
        .wait_for_visible_appends(std::time::Duration::from_secs(10))
        .await
        .unwrap_or_else(|e| panic!("waiting for appends to become visible failed: {e}"));
    assert!(
        visible,
        "appends did not become visible to read_all within 10 s"
    );
    read_all_now(store, from, max_count, filter).await
}

/// [`read_all`] without waiting: what a live reader sees at this instant.
pub(super) async fn read_all_now<S: EventStore>(
    store: &S,
    from: u64,
    max_count: usize,
    filter: &EventFilter,
) -> Vec<RecordedEvent> {
    store
        .read_all(from.saturating_sub(1), max_count, filter)
        .await
        .unwrap_or_else(|e| panic!("reading the global log from {from} failed: {e}"))
}

pub(super) async fn stream_version<S: EventStore>(store: &S, stream: &str) -> u64 {
    store
        .stream_version(stream)
        .await
        .unwrap_or_else(|e| panic!("stream_version of `{stream}` failed: {e}"))
}

pub(super) async fn head<S: EventStore>(store: &S) -> u64 {
    store
        .head_position()
        .await
        .unwrap_or_else(|e| panic!("head_position failed: {e}"))
}

/// Asserts `result` is a conflict naming `stream`, `expected` and `actual`.
pub(super) fn assert_conflict(
    result: Result<AppendResult, StoreError>,
    stream: &str,
    expected: ExpectedVersion,
    actual: u64,
) {
    match result {
        Err(StoreError::WrongExpectedVersion {
            stream_id,
            expected: e,
            actual: a,
        }) => {
            assert_eq!(stream_id, stream, "the conflict names the stream");
            assert_eq!(e, expected, "the conflict carries the expected version");
            assert_eq!(a, actual, "the conflict carries the actual version");
        }
        Err(other) => panic!("expected a conflict on `{stream}`, got another error: {other}"),
        Ok(result) => {
            panic!("expected a conflict on `{stream}`, but the append succeeded: {result:?}")
        }
    }
}

/// Appends `count` events with `expected` and asserts a conflict with nothing written:
/// the stream keeps `before` events and none of the rejected ids shows up anywhere.
/// A rejected append, of three events and then of one (stores may take a shorter path for a
/// single event), conflicts and writes nothing.
pub(super) async fn assert_rejected_append<S: EventStore>(
    store: &S,
    case: &Case,
    stream: &str,
    expected: ExpectedVersion,
    actual: u64,
) {
    for size in [3, 1] {
        let head_before = head(store).await;
        let rejected = events(&case.event_type("Rejected"), 1..=size);
        let rejected_ids: Vec<_> = rejected.iter().map(|e| e.event_id).collect();

        assert_conflict(
            store.append(stream, expected, rejected).await,
            stream,
            expected,
            actual,
        );

        assert_eq!(
            stream_version(store, stream).await,
            actual,
            "a conflict writes nothing ({size} events)"
        );
        let stream_events = read_stream(store, stream).await;
        assert_eq!(
            stream_events.len() as u64,
            actual,
            "a conflict writes nothing ({size} events)"
        );
        assert!(
            stream_events
                .iter()
                .all(|e| !rejected_ids.contains(&e.event_id))
        );
        let in_log = read_all(
            store,
            head_before + 1,
            usize::MAX,
            &case.filter(&["Rejected"]),
        )
        .await;
        assert!(
            in_log.is_empty(),
            "a conflict writes nothing to the global log ({size} events): {in_log:?}"
        );
    }
}

pub(super) fn snapshot(stream: &str, version: u64, payload: &[u8]) -> Snapshot {
    Snapshot {
        stream_id: stream.to_owned(),
        stream_version: version,
        event_id: uuid::Uuid::now_v7(),
        schema_version: 3,
        // High bit set: a store keeping it in a signed column must give the bits back.
        shape: 0x9e37_79b9_7f4a_7c15,
        payload: payload.to_vec(),
        // Whole milliseconds, which every backend can store exactly.
        taken_at: Utc::now().trunc_subsecs(3),
    }
}

pub(super) async fn load_snapshot<S: SnapshotStore>(store: &S, stream: &str) -> Option<Snapshot> {
    store
        .load_snapshot(stream)
        .await
        .unwrap_or_else(|e| panic!("load_snapshot of `{stream}` failed: {e}"))
}

pub(super) async fn save_snapshot<S: SnapshotStore>(store: &S, snapshot: Snapshot) {
    let stream = snapshot.stream_id.clone();
    store
        .save_snapshot(snapshot)
        .await
        .unwrap_or_else(|e| panic!("save_snapshot of `{stream}` failed: {e}"))
}

pub(super) fn assert_same_snapshot(actual: &Snapshot, expected: &Snapshot) {
    assert_eq!(actual.stream_id, expected.stream_id);
    assert_eq!(actual.stream_version, expected.stream_version);
    assert_eq!(actual.schema_version, expected.schema_version);
    assert_same_json(&actual.payload, &expected.payload);
    assert_eq!(actual.taken_at, expected.taken_at);
}
