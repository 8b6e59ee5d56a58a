//! The conformance suite every event store must pass.
//!
//! Each behaviour of the storage model (see `DESIGN.md`, "Storage model") is one small
//! `pub async fn` below, named after what it proves and generic over the store. The
//! [`conformance_suite!`] macro turns each of them into a `#[tokio::test]` for one store:
//!
//! ```ignore
//! mod conformance;
//!
//! conformance_suite!(async { annals::InMemoryStore::new() });
//! ```
//!
//! The factory expression is evaluated once per test and must give a fresh, empty store.
//! The cases do not rely on that beyond what they check conditionally: every case uses
//! stream ids and event type names prefixed with its own name and a random suffix, and
//! reads of the global log only look at the case's own events, so a store shared between
//! cases (and between runs, as a SQL database may be) still passes.
//!
//! Payloads are JSON, and are compared as JSON values (not bytes), so a store may keep
//! them in a JSON column that normalises whitespace.
//!
//! The module must be declared at the root of the test crate: the generated tests call
//! `crate::conformance::<case>`.

#![allow(dead_code)] // A store's test file may not use every helper.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use annals::{
    AppendResult, EventFilter, EventStore, ExpectedVersion, Metadata, NewEvent, RecordedEvent,
    Snapshot, SnapshotStore, StoreError,
};
use chrono::{DateTime, SubsecRound, TimeDelta, Utc};

/// Generates one `#[tokio::test]` per conformance case, each running the case against a
/// fresh store made by `$factory` (an expression of type `impl Future<Output = S>` where
/// `S: EventStore + SnapshotStore`, typically an `async { ... }` block).
///
/// Exported to the root of the test crate, so a plain `mod conformance;` makes it usable.
#[macro_export]
macro_rules! conformance_suite {
    // A factory of `Option<S>`: `None` skips the case (a server that is not running).
    (optional $factory:expr $(,)?) => {
        $crate::conformance_suite!(@list ($factory));
    };
    (@list ($factory:expr)) => {
        $crate::conformance_suite!(@cases ($factory);
            append_with_no_stream_creates_the_stream,
            append_with_any_creates_the_stream,
            append_with_exact_zero_creates_the_stream,
            no_stream_conflicts_on_an_existing_stream,
            stream_exists_appends_to_an_existing_stream,
            stream_exists_conflicts_on_a_new_stream,
            exact_appends_at_the_current_version,
            exact_conflicts_on_a_stale_version,
            exact_conflicts_on_a_version_ahead,
            exact_conflicts_on_a_new_stream,
            exact_zero_conflicts_on_an_existing_stream,
            any_appends_to_an_existing_stream,
            conflict_writes_nothing_and_the_stream_continues_gap_free,
            concurrent_appends_with_one_expected_version_have_one_winner,
            stream_versions_are_one_based_and_gap_free,
            first_event_of_an_empty_store_has_position_one,
            global_positions_increase_strictly_across_streams,
            append_positions_match_positions_read_back,
            read_stream_from_a_middle_version,
            visit_stream_sees_what_read_stream_returns,
            visit_stream_respects_from_and_max_count,
            visit_stream_stops_when_the_visitor_breaks,
            read_stream_respects_max_count,
            read_stream_from_version_zero_reads_from_the_start,
            reads_past_the_end_are_empty,
            unknown_stream_is_empty_with_version_zero,
            read_all_from_a_position,
            read_all_respects_max_count,
            read_all_filters_by_event_type,
            read_all_max_count_counts_only_matching_events,
            read_all_filter_matching_nothing_is_empty,
            visit_all_sees_what_read_all_returns,
            visit_all_hands_over_each_envelope_whole,
            count_after_counts_what_read_all_returns,
            read_all_finds_sparse_events_far_apart,
            concurrent_writers_never_make_a_tailing_reader_skip_an_event,
            metadata_round_trips,
            event_id_type_and_schema_version_round_trip,
            recorded_at_is_set_and_shared_within_an_append,
            empty_append_is_rejected,
            empty_stream_id_is_rejected,
            one_mib_payload_round_trips,
            hostile_and_unicode_stream_ids_are_kept_verbatim_and_separate,
            ten_thousand_event_stream_reads_back_completely_in_order,
            head_position_is_zero_for_an_empty_log,
            head_position_tracks_appends,
            no_snapshot_at_first,
            saved_snapshot_loads_back,
            later_snapshot_replaces_an_earlier_one,
            older_snapshot_does_not_replace_a_newer_one,
            snapshots_are_per_stream,
            temporal_load_at_each_version,
            temporal_load_as_of_a_time_between_appends,
        );
    };
    (@cases ($factory:expr); $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let ::core::option::Option::Some(store) = $factory.await else { return };
                $crate::conformance::$case(store).await;
            }
        )*
    };
    ($factory:expr $(,)?) => {
        $crate::conformance_suite!(@list (async { ::core::option::Option::Some($factory.await) }));
    };
}

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// Names private to one run of one case: stream ids and event type names carry the case's
/// name and a random suffix, so cases never see each other's data in a shared store.
struct Case {
    prefix: String,
}

impl Case {
    fn new(name: &str) -> Self {
        // The random tail of a UUID v7 (the root package has no direct `uuid` dependency,
        // so the id is taken from a fresh `NewEvent`).
        let id = NewEvent::new("id", 1, Vec::new(), Metadata::default()).event_id;
        let hex = id.simple().to_string();
        Case {
            prefix: format!("{name}-{}", &hex[16..]),
        }
    }

    fn stream(&self, name: &str) -> String {
        format!("{}/{name}", self.prefix)
    }

    fn event_type(&self, name: &str) -> String {
        format!("{}.{name}", self.prefix)
    }

    /// A filter for the given event types of this case.
    fn filter(&self, names: &[&str]) -> EventFilter {
        EventFilter::types(names.iter().map(|name| self.event_type(name)))
    }
}

/// A JSON payload `{"n":n}`.
fn payload(n: u64) -> Vec<u8> {
    format!(r#"{{"n":{n}}}"#).into_bytes()
}

/// An event of type `event_type` with payload `{"n":n}` and no metadata.
fn event(event_type: &str, n: u64) -> NewEvent {
    NewEvent::new(event_type, 1, payload(n), Metadata::default())
}

/// Events `{"n":n}` for each `n` in `ns`.
fn events(event_type: &str, ns: impl IntoIterator<Item = u64>) -> Vec<NewEvent> {
    ns.into_iter().map(|n| event(event_type, n)).collect()
}

fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("stored payload is not JSON ({e}): {bytes:?}"))
}

/// The `n` of a `{"n":n}` payload.
fn n_of(event: &RecordedEvent) -> u64 {
    json(&event.payload)["n"]
        .as_u64()
        .unwrap_or_else(|| panic!("payload has no `n`: {:?}", event.payload))
}

fn assert_same_json(actual: &[u8], expected: &[u8]) {
    assert!(
        json(actual) == json(expected),
        "payload changed: stored {} bytes, read back {} bytes",
        expected.len(),
        actual.len()
    );
}

fn versions(events: &[RecordedEvent]) -> Vec<u64> {
    events.iter().map(|e| e.stream_version).collect()
}

fn positions(events: &[RecordedEvent]) -> Vec<u64> {
    events.iter().map(|e| e.position).collect()
}

fn assert_strictly_increasing(values: &[u64], what: &str) {
    for pair in values.windows(2) {
        assert!(
            pair[0] < pair[1],
            "{what} not strictly increasing: {values:?}"
        );
    }
}

async fn append<S: EventStore>(
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

async fn read_stream<S: EventStore>(store: &S, stream: &str) -> Vec<RecordedEvent> {
    store
        .read_stream(stream, 1, usize::MAX)
        .await
        .unwrap_or_else(|e| panic!("reading `{stream}` failed: {e}"))
}

/// The events at and after position `from` (0 and 1 both read from the start): `read_all`
/// reads *after* a position, so this reads after `from - 1`. Waits first until the
/// appends made so far are visible to `read_all` (see `wait_for_visible_appends`).
async fn read_all<S: EventStore>(
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
async fn read_all_now<S: EventStore>(
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

async fn stream_version<S: EventStore>(store: &S, stream: &str) -> u64 {
    store
        .stream_version(stream)
        .await
        .unwrap_or_else(|e| panic!("stream_version of `{stream}` failed: {e}"))
}

async fn head<S: EventStore>(store: &S) -> u64 {
    store
        .head_position()
        .await
        .unwrap_or_else(|e| panic!("head_position failed: {e}"))
}

/// Asserts `result` is a conflict naming `stream`, `expected` and `actual`.
fn assert_conflict(
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
async fn assert_rejected_append<S: EventStore>(
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

fn snapshot(stream: &str, version: u64, payload: &[u8]) -> Snapshot {
    Snapshot {
        stream_id: stream.to_owned(),
        stream_version: version,
        schema_version: 3,
        payload: payload.to_vec(),
        // Whole milliseconds, which every backend can store exactly.
        taken_at: Utc::now().trunc_subsecs(3),
    }
}

async fn load_snapshot<S: SnapshotStore>(store: &S, stream: &str) -> Option<Snapshot> {
    store
        .load_snapshot(stream)
        .await
        .unwrap_or_else(|e| panic!("load_snapshot of `{stream}` failed: {e}"))
}

async fn save_snapshot<S: SnapshotStore>(store: &S, snapshot: Snapshot) {
    let stream = snapshot.stream_id.clone();
    store
        .save_snapshot(snapshot)
        .await
        .unwrap_or_else(|e| panic!("save_snapshot of `{stream}` failed: {e}"))
}

fn assert_same_snapshot(actual: &Snapshot, expected: &Snapshot) {
    assert_eq!(actual.stream_id, expected.stream_id);
    assert_eq!(actual.stream_version, expected.stream_version);
    assert_eq!(actual.schema_version, expected.schema_version);
    assert_same_json(&actual.payload, &expected.payload);
    assert_eq!(actual.taken_at, expected.taken_at);
}

// ---------------------------------------------------------------------------------------
// Expected versions
// ---------------------------------------------------------------------------------------

/// `NoStream` appends to a stream that has no events, which starts at version 1.
pub async fn append_with_no_stream_creates_the_stream<S: EventStore + SnapshotStore>(store: S) {
    let case = Case::new("append_with_no_stream_creates_the_stream");
    let stream = case.stream("s");
    let result = append(
        &store,
        &stream,
        ExpectedVersion::NoStream,
        events(&case.event_type("E"), 1..=2),
    )
    .await;
    assert_eq!(result.stream_version, 2);
    assert_eq!(result.positions.len(), 2);
    assert_eq!(stream_version(&store, &stream).await, 2);
    let read = read_stream(&store, &stream).await;
    assert_eq!(versions(&read), [1, 2]);
    assert_eq!(read.iter().map(n_of).collect::<Vec<_>>(), [1, 2]);
}

/// `Any` appends to a stream that has no events.
pub async fn append_with_any_creates_the_stream<S: EventStore + SnapshotStore>(store: S) {
    let case = Case::new("append_with_any_creates_the_stream");
    let stream = case.stream("s");
    let result = append(
        &store,
        &stream,
        ExpectedVersion::Any,
        vec![event(&case.event_type("E"), 1)],
    )
    .await;
    assert_eq!(result.stream_version, 1);
    assert_eq!(stream_version(&store, &stream).await, 1);
    assert_eq!(versions(&read_stream(&store, &stream).await), [1]);
}

/// `Exact(0)` means "no stream": it appends to a stream that has no events.
pub async fn append_with_exact_zero_creates_the_stream<S: EventStore + SnapshotStore>(store: S) {
    let case = Case::new("append_with_exact_zero_creates_the_stream");
    let stream = case.stream("s");
    let result = append(
        &store,
        &stream,
        ExpectedVersion::Exact(0),
        vec![event(&case.event_type("E"), 1)],
    )
    .await;
    assert_eq!(result.stream_version, 1);
    assert_eq!(versions(&read_stream(&store, &stream).await), [1]);
}

/// `NoStream` on a stream that has events is a conflict, and writes nothing.
pub async fn no_stream_conflicts_on_an_existing_stream<S: EventStore + SnapshotStore>(store: S) {
    let case = Case::new("no_stream_conflicts_on_an_existing_stream");
    let stream = case.stream("s");
    append(
        &store,
        &stream,
        ExpectedVersion::NoStream,
        events(&case.event_type("E"), 1..=2),
    )
    .await;
    assert_rejected_append(&store, &case, &stream, ExpectedVersion::NoStream, 2).await;
}

/// `StreamExists` appends to a stream that has events.
pub async fn stream_exists_appends_to_an_existing_stream<S: EventStore + SnapshotStore>(store: S) {
    let case = Case::new("stream_exists_appends_to_an_existing_stream");
    let stream = case.stream("s");
    let ty = case.event_type("E");
    append(
        &store,
        &stream,
        ExpectedVersion::NoStream,
        vec![event(&ty, 1)],
    )
    .await;
    let result = append(
        &store,
        &stream,
        ExpectedVersion::StreamExists,
        vec![event(&ty, 2)],
    )
    .await;
    assert_eq!(result.stream_version, 2);
    assert_eq!(versions(&read_stream(&store, &stream).await), [1, 2]);
}

/// `StreamExists` on a stream with no events is a conflict (actual 0), and writes nothing.
pub async fn stream_exists_conflicts_on_a_new_stream<S: EventStore + SnapshotStore>(store: S) {
    let case = Case::new("stream_exists_conflicts_on_a_new_stream");
    let stream = case.stream("s");
    assert_rejected_append(&store, &case, &stream, ExpectedVersion::StreamExists, 0).await;
}

/// `Exact(n)` appends when the stream is at version n.
pub async fn exact_appends_at_the_current_version<S: EventStore + SnapshotStore>(store: S) {
    let case = Case::new("exact_appends_at_the_current_version");
    let stream = case.stream("s");
    let ty = case.event_type("E");
    append(
        &store,
        &stream,
        ExpectedVersion::NoStream,
        events(&ty, 1..=3),
    )
    .await;
    let result = append(
        &store,
        &stream,
        ExpectedVersion::Exact(3),
        vec![event(&ty, 4)],
    )
    .await;
    assert_eq!(result.stream_version, 4);
    assert_eq!(versions(&read_stream(&store, &stream).await), [1, 2, 3, 4]);
}

/// `Exact(n)` below the stream's version (a stale writer) is a conflict, and writes nothing.
pub async fn exact_conflicts_on_a_stale_version<S: EventStore + SnapshotStore>(store: S) {
    let case = Case::new("exact_conflicts_on_a_stale_version");
    let stream = case.stream("s");
    append(
        &store,
        &stream,
        ExpectedVersion::NoStream,
        events(&case.event_type("E"), 1..=3),
    )
    .await;
    assert_rejected_append(&store, &case, &stream, ExpectedVersion::Exact(2), 3).await;
}

/// `Exact(n)` above the stream's version is a conflict, and writes nothing.
pub async fn exact_conflicts_on_a_version_ahead<S: EventStore + SnapshotStore>(store: S) {
    let case = Case::new("exact_conflicts_on_a_version_ahead");
    let stream = case.stream("s");
    append(
        &store,
        &stream,
        ExpectedVersion::NoStream,
        events(&case.event_type("E"), 1..=3),
    )
    .await;
    assert_rejected_append(&store, &case, &stream, ExpectedVersion::Exact(5), 3).await;
}

/// `Exact(n)` with n > 0 on a stream with no events is a conflict (actual 0).
pub async fn exact_conflicts_on_a_new_stream<S: EventStore + SnapshotStore>(store: S) {
    let case = Case::new("exact_conflicts_on_a_new_stream");
    let stream = case.stream("s");
    assert_rejected_append(&store, &case, &stream, ExpectedVersion::Exact(1), 0).await;
}

/// `Exact(0)` on a stream that has events is a conflict, and writes nothing.
pub async fn exact_zero_conflicts_on_an_existing_stream<S: EventStore + SnapshotStore>(store: S) {
    let case = Case::new("exact_zero_conflicts_on_an_existing_stream");
    let stream = case.stream("s");
    append(
        &store,
        &stream,
        ExpectedVersion::NoStream,
        vec![event(&case.event_type("E"), 1)],
    )
    .await;
    assert_rejected_append(&store, &case, &stream, ExpectedVersion::Exact(0), 1).await;
}

/// `Any` appends to a stream that has events, after them.
pub async fn any_appends_to_an_existing_stream<S: EventStore + SnapshotStore>(store: S) {
    let case = Case::new("any_appends_to_an_existing_stream");
    let stream = case.stream("s");
    let ty = case.event_type("E");
    append(
        &store,
        &stream,
        ExpectedVersion::NoStream,
        events(&ty, 1..=2),
    )
    .await;
    let result = append(&store, &stream, ExpectedVersion::Any, events(&ty, 3..=4)).await;
    assert_eq!(result.stream_version, 4);
    let read = read_stream(&store, &stream).await;
    assert_eq!(versions(&read), [1, 2, 3, 4]);
    assert_eq!(read.iter().map(n_of).collect::<Vec<_>>(), [1, 2, 3, 4]);
}

/// A rejected multi-event append writes none of its events, and the next append continues
/// the stream without a gap.
pub async fn conflict_writes_nothing_and_the_stream_continues_gap_free<
    S: EventStore + SnapshotStore,
>(
    store: S,
) {
    let case = Case::new("conflict_writes_nothing_and_the_stream_continues_gap_free");
    let stream = case.stream("s");
    let ty = case.event_type("E");
    let first = events(&ty, 1..=2);
    let first_ids: Vec<_> = first.iter().map(|e| e.event_id).collect();
    append(&store, &stream, ExpectedVersion::NoStream, first).await;

    assert_rejected_append(&store, &case, &stream, ExpectedVersion::Exact(1), 2).await;

    let result = append(
        &store,
        &stream,
        ExpectedVersion::Exact(2),
        vec![event(&ty, 3)],
    )
    .await;
    assert_eq!(result.stream_version, 3);
    let read = read_stream(&store, &stream).await;
    assert_eq!(versions(&read), [1, 2, 3]);
    assert_eq!(
        read[..2].iter().map(|e| e.event_id).collect::<Vec<_>>(),
        first_ids
    );
}

/// Concurrent appends expecting the same version: exactly one wins, the others conflict.
pub async fn concurrent_appends_with_one_expected_version_have_one_winner<
    S: EventStore + SnapshotStore,
>(
    store: S,
) {
    let case = Case::new("concurrent_appends_with_one_expected_version_have_one_winner");
    let stream = case.stream("s");
    let ty = case.event_type("E");
    append(
        &store,
        &stream,
        ExpectedVersion::NoStream,
        vec![event(&ty, 0)],
    )
    .await;

    let store = Arc::new(store);
    let writers: Vec<_> = (1..=8u64)
        .map(|n| {
            let (store, stream, ty) = (Arc::clone(&store), stream.clone(), ty.clone());
            tokio::spawn(async move {
                store
                    .append(&stream, ExpectedVersion::Exact(1), events(&ty, [n, n]))
                    .await
            })
        })
        .collect();
    let mut winners = 0;
    for writer in writers {
        match writer.await.expect("writer task panicked") {
            Ok(result) => {
                winners += 1;
                assert_eq!(result.stream_version, 3);
            }
            Err(error) => assert_conflict(Err(error), &stream, ExpectedVersion::Exact(1), 3),
        }
    }
    assert_eq!(winners, 1, "exactly one concurrent append wins");
    let read = read_stream(&*store, &stream).await;
    assert_eq!(versions(&read), [1, 2, 3]);
    assert_eq!(
        n_of(&read[1]),
        n_of(&read[2]),
        "the winner's events are not interleaved"
    );
}

// ---------------------------------------------------------------------------------------
// Versions and positions
// ---------------------------------------------------------------------------------------

/// Stream versions start at 1 and have no gaps, across appends of different sizes and
/// with other streams written in between.
pub async fn stream_versions_are_one_based_and_gap_free<S: EventStore + SnapshotStore>(store: S) {
    let case = Case::new("stream_versions_are_one_based_and_gap_free");
    let (a, b) = (case.stream("a"), case.stream("b"));
    let ty = case.event_type("E");
    let mut reported = Vec::new();
    for (size, other) in [(1, 2), (3, 1), (2, 3)] {
        let next = stream_version(&store, &a).await;
        reported.push(
            append(
                &store,
                &a,
                ExpectedVersion::Exact(next),
                events(&ty, 0..size),
            )
            .await
            .stream_version,
        );
        append(&store, &b, ExpectedVersion::Any, events(&ty, 0..other)).await;
    }
    assert_eq!(reported, [1, 4, 6]);
    assert_eq!(
        versions(&read_stream(&store, &a).await),
        (1..=6).collect::<Vec<_>>()
    );
    assert_eq!(
        versions(&read_stream(&store, &b).await),
        (1..=6).collect::<Vec<_>>()
    );
    assert_eq!(stream_version(&store, &a).await, 6);
    assert_eq!(stream_version(&store, &b).await, 6);
}

/// Global positions are 1-based: the first event of an empty store is at position 1.
pub async fn first_event_of_an_empty_store_has_position_one<S: EventStore + SnapshotStore>(
    store: S,
) {
    let case = Case::new("first_event_of_an_empty_store_has_position_one");
    if head(&store).await != 0 {
        return; // A shared store: only a fresh one can show this.
    }
    let result = append(
        &store,
        &case.stream("s"),
        ExpectedVersion::NoStream,
        events(&case.event_type("E"), 1..=2),
    )
    .await;
    assert_eq!(result.positions, [1, 2]);
    assert_eq!(head(&store).await, 2);
}

/// Global positions increase strictly across streams, in append order.
pub async fn global_positions_increase_strictly_across_streams<S: EventStore + SnapshotStore>(
    store: S,
) {
    let case = Case::new("global_positions_increase_strictly_across_streams");
    let ty = case.event_type("E");
    let mut appended = Vec::new();
    for name in ["a", "b", "a", "c", "b", "a"] {
        let result = append(
            &store,
            &case.stream(name),
            ExpectedVersion::Any,
            events(&ty, 1..=2),
        )
        .await;
        appended.extend(result.positions);
    }
    assert_strictly_increasing(&appended, "positions returned by appends");

    let read = read_all(&store, appended[0], usize::MAX, &case.filter(&["E"])).await;
    assert_eq!(
        positions(&read),
        appended,
        "the global log holds every event, in order"
    );
}

/// The positions an append returns are the positions its events are read back with, from
/// the stream and from the global log.
pub async fn append_positions_match_positions_read_back<S: EventStore + SnapshotStore>(store: S) {
    let case = Case::new("append_positions_match_positions_read_back");
    let ty = case.event_type("E");
    let mut by_id = HashMap::new();
    for (name, size) in [("a", 3), ("b", 2), ("a", 1), ("b", 4)] {
        let batch = events(&ty, 0..size);
        let ids: Vec<_> = batch.iter().map(|e| e.event_id).collect();
        let result = append(&store, &case.stream(name), ExpectedVersion::Any, batch).await;
        assert_eq!(
            result.positions.len(),
            ids.len(),
            "one position per appended event"
        );
        assert_eq!(result.last_position(), *result.positions.last().unwrap());
        by_id.extend(ids.into_iter().zip(result.positions));
    }

    for name in ["a", "b"] {
        for event in read_stream(&store, &case.stream(name)).await {
            assert_eq!(
                Some(&event.position),
                by_id.get(&event.event_id),
                "read_stream position"
            );
        }
    }
    let first = by_id.values().copied().min().unwrap();
    let all = read_all(&store, first, usize::MAX, &case.filter(&["E"])).await;
    assert_eq!(all.len(), by_id.len());
    for event in all {
        assert_eq!(
            Some(&event.position),
            by_id.get(&event.event_id),
            "read_all position"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Reading a stream
// ---------------------------------------------------------------------------------------

/// `read_stream` from a version in the middle returns that version and the ones after it.
pub async fn read_stream_from_a_middle_version<S: EventStore + SnapshotStore>(store: S) {
    let case = Case::new("read_stream_from_a_middle_version");
    let stream = case.stream("s");
    append(
        &store,
        &stream,
        ExpectedVersion::NoStream,
        events(&case.event_type("E"), 1..=5),
    )
    .await;
    let read = store.read_stream(&stream, 3, usize::MAX).await.unwrap();
    assert_eq!(versions(&read), [3, 4, 5]);
    assert_eq!(read.iter().map(n_of).collect::<Vec<_>>(), [3, 4, 5]);
    let last = store.read_stream(&stream, 5, usize::MAX).await.unwrap();
    assert_eq!(versions(&last), [5]);
}

/// The events `visit_stream` hands out, borrowed, are those `read_stream` returns.
pub async fn visit_stream_sees_what_read_stream_returns<S: EventStore + SnapshotStore>(store: S) {
    let case = Case::new("visit_stream_sees_what_read_stream_returns");
    let stream = case.stream("s");
    append(
        &store,
        &stream,
        ExpectedVersion::NoStream,
        events(&case.event_type("E"), 1..=4),
    )
    .await;
    let read = store.read_stream(&stream, 1, usize::MAX).await.unwrap();
    let mut visited = Vec::new();
    let count = store
        .visit_stream(&stream, 1, usize::MAX, &mut |event| {
            visited.push((
                event.stream_version,
                event.event_type.to_owned(),
                event.schema_version,
                json(event.payload),
            ));
            std::ops::ControlFlow::Continue(())
        })
        .await
        .unwrap();
    assert_eq!(count, 4);
    let expected: Vec<_> = read
        .iter()
        .map(|e| {
            (
                e.stream_version,
                e.event_type.clone(),
                e.schema_version,
                json(&e.payload),
            )
        })
        .collect();
    assert_eq!(visited, expected);
}

/// `visit_stream` starts at `from_version` and reads at most `max_count` events.
pub async fn visit_stream_respects_from_and_max_count<S: EventStore + SnapshotStore>(store: S) {
    let case = Case::new("visit_stream_respects_from_and_max_count");
    let stream = case.stream("s");
    append(
        &store,
        &stream,
        ExpectedVersion::NoStream,
        events(&case.event_type("E"), 1..=6),
    )
    .await;
    let mut versions = Vec::new();
    let count = store
        .visit_stream(&stream, 3, 2, &mut |event| {
            versions.push(event.stream_version);
            std::ops::ControlFlow::Continue(())
        })
        .await
        .unwrap();
    assert_eq!((count, versions), (2, vec![3, 4]));
    let unknown = store
        .visit_stream(&case.stream("unknown"), 1, 10, &mut |_| {
            std::ops::ControlFlow::Continue(())
        })
        .await
        .unwrap();
    assert_eq!(unknown, 0);
}

/// A visitor that breaks sees no further event.
pub async fn visit_stream_stops_when_the_visitor_breaks<S: EventStore + SnapshotStore>(store: S) {
    let case = Case::new("visit_stream_stops_when_the_visitor_breaks");
    let stream = case.stream("s");
    append(
        &store,
        &stream,
        ExpectedVersion::NoStream,
        events(&case.event_type("E"), 1..=5),
    )
    .await;
    let mut seen = 0;
    store
        .visit_stream(&stream, 1, usize::MAX, &mut |event| {
            seen += 1;
            if event.stream_version == 2 {
                std::ops::ControlFlow::Break(())
            } else {
                std::ops::ControlFlow::Continue(())
            }
        })
        .await
        .unwrap();
    assert_eq!(seen, 2);
}

/// `read_stream` returns at most `max_count` events, so a stream can be read in pages.
pub async fn read_stream_respects_max_count<S: EventStore + SnapshotStore>(store: S) {
    let case = Case::new("read_stream_respects_max_count");
    let stream = case.stream("s");
    append(
        &store,
        &stream,
        ExpectedVersion::NoStream,
        events(&case.event_type("E"), 1..=10),
    )
    .await;

    assert_eq!(
        versions(&store.read_stream(&stream, 1, 2).await.unwrap()),
        [1, 2]
    );
    assert_eq!(
        versions(&store.read_stream(&stream, 4, 3).await.unwrap()),
        [4, 5, 6]
    );
    assert_eq!(
        versions(&store.read_stream(&stream, 9, 5).await.unwrap()),
        [9, 10]
    );
    assert!(
        store.read_stream(&stream, 1, 0).await.unwrap().is_empty(),
        "max_count 0"
    );

    let mut paged = Vec::new();
    let mut from = 1;
    loop {
        let page = store.read_stream(&stream, from, 3).await.unwrap();
        assert!(page.len() <= 3);
        let Some(last) = page.last() else { break };
        from = last.stream_version + 1;
        paged.extend(page);
    }
    assert_eq!(versions(&paged), (1..=10).collect::<Vec<_>>());
}

/// `from_version` 0 reads from the start, like 1.
pub async fn read_stream_from_version_zero_reads_from_the_start<S: EventStore + SnapshotStore>(
    store: S,
) {
    let case = Case::new("read_stream_from_version_zero_reads_from_the_start");
    let stream = case.stream("s");
    append(
        &store,
        &stream,
        ExpectedVersion::NoStream,
        events(&case.event_type("E"), 1..=3),
    )
    .await;
    assert_eq!(
        versions(&store.read_stream(&stream, 0, usize::MAX).await.unwrap()),
        [1, 2, 3]
    );
}

/// Reading from past the last version or position returns nothing (no error), even from
/// `u64::MAX`.
pub async fn reads_past_the_end_are_empty<S: EventStore + SnapshotStore>(store: S) {
    let case = Case::new("reads_past_the_end_are_empty");
    let stream = case.stream("s");
    append(
        &store,
        &stream,
        ExpectedVersion::NoStream,
        events(&case.event_type("E"), 1..=5),
    )
    .await;
    assert!(
        store
            .read_stream(&stream, 6, usize::MAX)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .read_stream(&stream, u64::MAX, usize::MAX)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        read_all(&store, u64::MAX, usize::MAX, &EventFilter::all())
            .await
            .is_empty()
    );
    assert!(
        read_all(&store, u64::MAX, usize::MAX, &case.filter(&["E"]))
            .await
            .is_empty()
    );
}

/// A stream that was never written reads as empty, at version 0, with no snapshot.
pub async fn unknown_stream_is_empty_with_version_zero<S: EventStore + SnapshotStore>(store: S) {
    let case = Case::new("unknown_stream_is_empty_with_version_zero");
    let stream = case.stream("never-written");
    assert!(read_stream(&store, &stream).await.is_empty());
    assert!(store.read_stream(&stream, 5, 10).await.unwrap().is_empty());
    assert_eq!(stream_version(&store, &stream).await, 0);
    assert!(load_snapshot(&store, &stream).await.is_none());
}

// ---------------------------------------------------------------------------------------
// Reading the global log
// ---------------------------------------------------------------------------------------

/// `read_all` returns the events at and after `from_position`; 0 and 1 read from the start.
pub async fn read_all_from_a_position<S: EventStore + SnapshotStore>(store: S) {
    let case = Case::new("read_all_from_a_position");
    let ty = case.event_type("E");
    let mut appended = append(
        &store,
        &case.stream("a"),
        ExpectedVersion::NoStream,
        events(&ty, 1..=2),
    )
    .await
    .positions;
    appended.extend(
        append(
            &store,
            &case.stream("b"),
            ExpectedVersion::NoStream,
            events(&ty, 3..=4),
        )
        .await
        .positions,
    );
    let filter = case.filter(&["E"]);

    let from_third = read_all(&store, appended[2], usize::MAX, &filter).await;
    assert_eq!(positions(&from_third), appended[2..]);
    assert_eq!(from_third.iter().map(n_of).collect::<Vec<_>>(), [3, 4]);
    assert_eq!(from_third[0].stream_id, case.stream("b"));

    assert_eq!(
        positions(&read_all(&store, 0, usize::MAX, &filter).await),
        appended
    );
    assert_eq!(
        positions(&read_all(&store, 1, usize::MAX, &filter).await),
        appended
    );

    let unfiltered = read_all(&store, appended[1], 1, &EventFilter::all()).await;
    assert_eq!(
        positions(&unfiltered),
        [appended[1]],
        "an unfiltered read starts at the position"
    );
}

/// A filter whose events are far apart in the log (many others between them) still gets
/// them all, in order, a batch at a time.
pub async fn read_all_finds_sparse_events_far_apart<S: EventStore + SnapshotStore>(store: S) {
    let case = Case::new("read_all_finds_sparse_events_far_apart");
    let stream = case.stream("s");
    let mut wanted = Vec::new();
    let mut version = 0;
    for round in 0..3u64 {
        let noise = events(&case.event_type("Noise"), 0..40);
        version = append(&store, &stream, ExpectedVersion::Exact(version), noise)
            .await
            .stream_version;
        let rare = append(
            &store,
            &stream,
            ExpectedVersion::Exact(version),
            vec![event(&case.event_type("Rare"), round)],
        )
        .await;
        version = rare.stream_version;
        wanted.extend(rare.positions);
    }
    let filter = case.filter(&["Rare"]);
    let mut found = Vec::new();
    let mut after = 1;
    loop {
        let batch = read_all(&store, after, 2, &filter).await;
        if batch.is_empty() {
            break;
        }
        after = batch.last().unwrap().position + 1;
        found.extend(positions(&batch));
    }
    assert_eq!(found, wanted);
}

/// `visit_all` hands out the events `read_all` returns (filter and `max_count` included),
/// and stops when the visitor breaks.
pub async fn visit_all_sees_what_read_all_returns<S: EventStore + SnapshotStore>(store: S) {
    let case = Case::new("visit_all_sees_what_read_all_returns");
    let stream = case.stream("s");
    let mut appended = append(
        &store,
        &stream,
        ExpectedVersion::NoStream,
        events(&case.event_type("A"), 1..=3),
    )
    .await;
    appended.positions.extend(
        append(
            &store,
            &stream,
            ExpectedVersion::Exact(3),
            events(&case.event_type("B"), 4..=6),
        )
        .await
        .positions,
    );
    let filter = case.filter(&["B"]);
    let after = appended.positions[0];
    let expected = read_all(&store, after + 1, 2, &filter).await;
    let mut visited = Vec::new();
    let read = store
        .visit_all(after, 2, &filter, &mut |event| {
            visited.push(event.clone());
            std::ops::ControlFlow::Continue(())
        })
        .await
        .unwrap();
    assert_eq!((read, visited), (2, expected));

    let mut seen = 0;
    store
        .visit_all(after, usize::MAX, &filter, &mut |_| {
            seen += 1;
            std::ops::ControlFlow::Break(())
        })
        .await
        .unwrap();
    assert_eq!(seen, 1, "a visitor that breaks sees no further event");
}

/// Events whose envelopes differ in every field (stream ids and payloads of different
/// lengths, metadata with and without ids and key/values) each reach the visitor whole: a
/// store that reuses one record per row carries nothing of one event into the next.
pub async fn visit_all_hands_over_each_envelope_whole<S: EventStore + SnapshotStore>(store: S) {
    let case = Case::new("visit_all_hands_over_each_envelope_whole");
    let rich = Metadata::default()
        .correlated_with(NewEvent::new("id", 1, Vec::new(), Metadata::default()).event_id)
        .caused_by(NewEvent::new("id", 1, Vec::new(), Metadata::default()).event_id)
        .with("tenant", "acme");
    let long_payload = format!(r#"{{"n":1,"padding":"{}"}}"#, "x".repeat(300)).into_bytes();
    let writes = [
        (
            case.stream("a-much-longer-stream-name"),
            "Long",
            long_payload,
            rich.clone(),
            2,
        ),
        (case.stream("s"), "S", payload(2), Metadata::default(), 1),
        (
            case.stream("a-much-longer-stream-name"),
            "Long",
            payload(3),
            rich.clone(),
            3,
        ),
        (
            case.stream("t"),
            "S",
            payload(4),
            Metadata::default().with("k", "v"),
            1,
        ),
    ];
    let mut first = None;
    let mut versions = std::collections::HashMap::new();
    for (stream, ty, body, metadata, schema_version) in writes {
        let version = versions.entry(stream.clone()).or_insert(0u64);
        let written = NewEvent::new(case.event_type(ty), schema_version, body, metadata);
        let appended = append(
            &store,
            &stream,
            ExpectedVersion::Exact(*version),
            vec![written],
        )
        .await;
        *version += 1;
        first.get_or_insert(appended.positions[0]);
    }
    let filter = case.filter(&["Long", "S"]);
    let first = first.expect("appended");
    let expected = read_all(&store, first, usize::MAX, &filter).await;
    assert_eq!(expected.len(), 4);
    let mut visited = Vec::new();
    store
        .visit_all(first - 1, usize::MAX, &filter, &mut |event| {
            visited.push(event.clone());
            std::ops::ControlFlow::Continue(())
        })
        .await
        .unwrap();
    assert_eq!(visited, expected);
}

/// `count_after` counts the events `read_all` would return from the same position with the
/// same filter.
pub async fn count_after_counts_what_read_all_returns<S: EventStore + SnapshotStore>(store: S) {
    let case = Case::new("count_after_counts_what_read_all_returns");
    let stream = case.stream("s");
    let first = append(
        &store,
        &stream,
        ExpectedVersion::NoStream,
        events(&case.event_type("A"), 1..=3),
    )
    .await
    .positions[0];
    append(
        &store,
        &stream,
        ExpectedVersion::Exact(3),
        events(&case.event_type("B"), 4..=8),
    )
    .await;
    let visible = store
        .wait_for_visible_appends(std::time::Duration::from_secs(10))
        .await
        .unwrap();
    assert!(visible);
    for (names, after, expected) in [
        (&["A", "B"][..], first - 1, 8),
        (&["B"][..], first - 1, 5),
        (&["A"][..], first, 2),
        (&["A"][..], first + 2, 0),
        (&[][..], first - 1, 0),
    ] {
        let filter = case.filter(names);
        let counted = store.count_after(after, &filter).await.unwrap();
        assert_eq!(counted, expected, "{names:?} after {after}");
        assert_eq!(
            counted as usize,
            read_all_now(&store, after + 1, usize::MAX, &filter)
                .await
                .len()
        );
    }
    let everything = store
        .count_after(first - 1, &EventFilter::all())
        .await
        .unwrap();
    assert!(
        everything >= 8,
        "every type counts without a filter: {everything}"
    );
}

/// `read_all` returns at most `max_count` events, in global order.
pub async fn read_all_respects_max_count<S: EventStore + SnapshotStore>(store: S) {
    let case = Case::new("read_all_respects_max_count");
    let ty = case.event_type("E");
    let appended = append(
        &store,
        &case.stream("s"),
        ExpectedVersion::NoStream,
        events(&ty, 1..=5),
    )
    .await
    .positions;

    let two = read_all(&store, appended[0], 2, &EventFilter::all()).await;
    assert_eq!(two.len(), 2);
    assert_eq!(two[0].position, appended[0]);
    assert_strictly_increasing(&positions(&two), "read_all positions");

    assert!(
        read_all(&store, appended[0], 0, &EventFilter::all())
            .await
            .is_empty(),
        "max_count 0"
    );
    let filter = case.filter(&["E"]);
    assert_eq!(
        positions(&read_all(&store, appended[0], 3, &filter).await),
        appended[..3]
    );
    assert_eq!(
        positions(&read_all(&store, appended[3], 10, &filter).await),
        appended[3..]
    );
}

/// An event-type filter returns only the events of those types, in global order.
pub async fn read_all_filters_by_event_type<S: EventStore + SnapshotStore>(store: S) {
    let case = Case::new("read_all_filters_by_event_type");
    let (a, b, c) = (
        case.event_type("A"),
        case.event_type("B"),
        case.event_type("C"),
    );
    let batch = vec![
        event(&a, 1),
        event(&b, 2),
        event(&c, 3),
        event(&a, 4),
        event(&b, 5),
    ];
    let first = append(&store, &case.stream("s1"), ExpectedVersion::NoStream, batch)
        .await
        .positions[0];
    append(
        &store,
        &case.stream("s2"),
        ExpectedVersion::NoStream,
        vec![event(&c, 6), event(&a, 7)],
    )
    .await;

    let only_a = read_all(&store, first, usize::MAX, &case.filter(&["A"])).await;
    assert_eq!(only_a.iter().map(n_of).collect::<Vec<_>>(), [1, 4, 7]);
    assert!(only_a.iter().all(|e| e.event_type == a));
    assert_strictly_increasing(&positions(&only_a), "filtered positions");

    let a_or_c = read_all(&store, first, usize::MAX, &case.filter(&["A", "C"])).await;
    assert_eq!(a_or_c.iter().map(n_of).collect::<Vec<_>>(), [1, 3, 4, 6, 7]);

    let all = read_all(&store, first, usize::MAX, &case.filter(&["A", "B", "C"])).await;
    assert_eq!(
        all.iter().map(n_of).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5, 6, 7]
    );
}

/// With a filter, `max_count` counts the matching events, not the skipped ones.
pub async fn read_all_max_count_counts_only_matching_events<S: EventStore + SnapshotStore>(
    store: S,
) {
    let case = Case::new("read_all_max_count_counts_only_matching_events");
    let (a, b) = (case.event_type("A"), case.event_type("B"));
    let mut batch = events(&b, 100..150);
    batch.insert(10, event(&a, 1));
    batch.insert(30, event(&a, 2));
    batch.push(event(&a, 3));
    let first = append(&store, &case.stream("s"), ExpectedVersion::NoStream, batch)
        .await
        .positions[0];

    let two = read_all(&store, first, 2, &case.filter(&["A"])).await;
    assert_eq!(two.iter().map(n_of).collect::<Vec<_>>(), [1, 2]);
    let rest = read_all(&store, two[1].position + 1, 2, &case.filter(&["A"])).await;
    assert_eq!(rest.iter().map(n_of).collect::<Vec<_>>(), [3]);
}

/// A filter that matches no stored type, or an empty list of types, returns nothing.
pub async fn read_all_filter_matching_nothing_is_empty<S: EventStore + SnapshotStore>(store: S) {
    let case = Case::new("read_all_filter_matching_nothing_is_empty");
    append(
        &store,
        &case.stream("s"),
        ExpectedVersion::NoStream,
        events(&case.event_type("E"), 1..=3),
    )
    .await;
    assert!(
        read_all(&store, 0, usize::MAX, &case.filter(&["NeverAppended"]))
            .await
            .is_empty()
    );
    let no_types = EventFilter::types(Vec::<String>::new());
    assert!(
        read_all(&store, 0, usize::MAX, &no_types).await.is_empty(),
        "an empty type list"
    );
}

/// Writers racing a reader that tails the global log: the reader sees every event exactly
/// once, each stream in version order, even when transactions commit out of position order
/// (the reader resumes *after* the last event it saw, in the store's visible order).
pub async fn concurrent_writers_never_make_a_tailing_reader_skip_an_event<
    S: EventStore + SnapshotStore,
>(
    store: S,
) {
    const WRITERS: u64 = 4;
    const APPENDS: u64 = 40;
    let case = Case::new("concurrent_writers_never_make_a_tailing_reader_skip_an_event");
    let filter = case.filter(&["E"]);
    let store = Arc::new(store);
    let start = head(&*store).await + 1;
    let done = Arc::new(AtomicBool::new(false));

    let tailer = {
        let (store, done, filter) = (Arc::clone(&store), Arc::clone(&done), filter.clone());
        tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut from = start;
            loop {
                let finished = done.load(Ordering::SeqCst);
                // Once the writers are done, wait out other transactions before concluding
                // that an empty read means the end.
                let batch = if finished {
                    read_all(&*store, from, 25, &filter).await
                } else {
                    read_all_now(&*store, from, 25, &filter).await
                };
                match batch.last() {
                    Some(last) => from = last.position + 1,
                    None if finished => break seen,
                    None => tokio::task::yield_now().await,
                }
                seen.extend(batch);
            }
        })
    };

    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (store, stream, ty) = (
                Arc::clone(&store),
                case.stream(&format!("w{w}")),
                case.event_type("E"),
            );
            tokio::spawn(async move {
                for i in 0..APPENDS {
                    let size = 1 + i % 3;
                    append(
                        &*store,
                        &stream,
                        ExpectedVersion::Any,
                        events(&ty, (0..size).map(|k| i * 10 + k)),
                    )
                    .await;
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.expect("writer task panicked");
    }
    done.store(true, Ordering::SeqCst);
    let seen = tailer.await.expect("tailer task panicked");

    let everything = read_all(&*store, start, usize::MAX, &filter).await;
    let expected_count = WRITERS * (0..APPENDS).map(|i| 1 + i % 3).sum::<u64>();
    assert_eq!(everything.len() as u64, expected_count);
    let mut seen_positions = positions(&seen);
    seen_positions.sort_unstable();
    seen_positions.dedup();
    assert_eq!(
        seen.len(),
        seen_positions.len(),
        "the tailing reader saw an event twice"
    );
    let mut all_positions = positions(&everything);
    all_positions.sort_unstable();
    assert_eq!(
        seen_positions, all_positions,
        "the tailing reader skipped events"
    );

    let mut last_version: BTreeMap<&str, u64> = BTreeMap::new();
    for event in &seen {
        let last = last_version.entry(&event.stream_id).or_insert(0);
        assert_eq!(
            event.stream_version,
            *last + 1,
            "stream versions in global order"
        );
        *last = event.stream_version;
    }
}

// ---------------------------------------------------------------------------------------
// What is stored
// ---------------------------------------------------------------------------------------

/// Correlation id, causation id and user key/values come back as written, and empty
/// metadata comes back empty.
pub async fn metadata_round_trips<S: EventStore + SnapshotStore>(store: S) {
    let case = Case::new("metadata_round_trips");
    let stream = case.stream("s");
    let ty = case.event_type("E");
    let correlation = NewEvent::new("id", 1, Vec::new(), Metadata::default()).event_id;
    let causation = NewEvent::new("id", 1, Vec::new(), Metadata::default()).event_id;
    let metadata = Metadata::default()
        .correlated_with(correlation)
        .caused_by(causation)
        .with("tenant", "acme")
        .with("user", "ada@example.com")
        .with("ключ", "値 ✓ 🦀")
        .with("quote\"'; --", "line\nbreak\ttab")
        .with("empty", "");
    let only_correlation = Metadata::default().correlated_with(correlation);
    let batch = vec![
        NewEvent::new(&ty, 1, payload(1), metadata.clone()),
        NewEvent::new(&ty, 1, payload(2), Metadata::default()),
        NewEvent::new(&ty, 1, payload(3), only_correlation.clone()),
    ];
    let first = append(&store, &stream, ExpectedVersion::NoStream, batch)
        .await
        .positions[0];

    let expected = [metadata, Metadata::default(), only_correlation];
    let from_stream = read_stream(&store, &stream).await;
    let from_log = read_all(&store, first, usize::MAX, &case.filter(&["E"])).await;
    for read in [from_stream, from_log] {
        assert_eq!(read.len(), 3);
        for (event, expected) in read.iter().zip(&expected) {
            assert_eq!(&event.metadata, expected);
        }
    }
}

/// The event id, stream id, type name, schema version and payload come back as written.
pub async fn event_id_type_and_schema_version_round_trip<S: EventStore + SnapshotStore>(store: S) {
    let case = Case::new("event_id_type_and_schema_version_round_trip");
    let stream = case.stream("s");
    let body = br#"{"name":"Ada","tags":["a","b"],"nested":{"x":1.5,"y":null,"z":true}}"#;
    let written = vec![
        NewEvent::new(
            case.event_type("Opened"),
            1,
            body.to_vec(),
            Metadata::default(),
        ),
        NewEvent::new(
            case.event_type("Renamed"),
            7,
            payload(2),
            Metadata::default(),
        ),
        NewEvent::new(
            case.event_type("Closed"),
            u32::MAX,
            b"[]".to_vec(),
            Metadata::default(),
        ),
    ];
    let first = append(&store, &stream, ExpectedVersion::NoStream, written.clone())
        .await
        .positions[0];

    let from_stream = read_stream(&store, &stream).await;
    let from_log = read_all(
        &store,
        first,
        usize::MAX,
        &case.filter(&["Opened", "Renamed", "Closed"]),
    )
    .await;
    for read in [from_stream, from_log] {
        assert_eq!(read.len(), written.len());
        for (event, new) in read.iter().zip(&written) {
            assert_eq!(event.event_id, new.event_id);
            assert_eq!(event.stream_id, stream);
            assert_eq!(event.event_type, new.event_type);
            assert_eq!(event.schema_version, new.schema_version);
            assert_same_json(&event.payload, &new.payload);
        }
    }
}

/// Every event of an append gets the same `recorded_at`, the one the append returns, close
/// to the current time.
pub async fn recorded_at_is_set_and_shared_within_an_append<S: EventStore + SnapshotStore>(
    store: S,
) {
    // Generous, so that a store using the database server's clock passes too.
    let slack = TimeDelta::seconds(60);
    let case = Case::new("recorded_at_is_set_and_shared_within_an_append");
    let stream = case.stream("s");
    let ty = case.event_type("E");

    let before = Utc::now();
    let first = append(
        &store,
        &stream,
        ExpectedVersion::NoStream,
        events(&ty, 1..=3),
    )
    .await;
    let second = append(
        &store,
        &stream,
        ExpectedVersion::Exact(3),
        events(&ty, 4..=5),
    )
    .await;
    let after = Utc::now();

    let in_window = |at: DateTime<Utc>| before - slack <= at && at <= after + slack;
    assert!(
        in_window(first.recorded_at),
        "recorded_at {} is not now",
        first.recorded_at
    );
    assert!(
        in_window(second.recorded_at),
        "recorded_at {} is not now",
        second.recorded_at
    );

    let read = read_stream(&store, &stream).await;
    for event in &read[..3] {
        assert_eq!(
            event.recorded_at, first.recorded_at,
            "one timestamp per append"
        );
    }
    for event in &read[3..] {
        assert_eq!(
            event.recorded_at, second.recorded_at,
            "one timestamp per append"
        );
    }
    let from_log = read_all(&store, first.positions[0], usize::MAX, &case.filter(&["E"])).await;
    let read_at: Vec<_> = read.iter().map(|e| e.recorded_at).collect();
    assert_eq!(
        from_log.iter().map(|e| e.recorded_at).collect::<Vec<_>>(),
        read_at
    );
}

/// An append with no events is rejected, on a new or an existing stream, and writes
/// nothing.
pub async fn empty_append_is_rejected<S: EventStore + SnapshotStore>(store: S) {
    let case = Case::new("empty_append_is_rejected");
    let (new, existing) = (case.stream("new"), case.stream("existing"));
    append(
        &store,
        &existing,
        ExpectedVersion::NoStream,
        vec![event(&case.event_type("E"), 1)],
    )
    .await;

    for (stream, version) in [(&new, 0), (&existing, 1)] {
        for expected in [ExpectedVersion::Any, ExpectedVersion::Exact(version)] {
            match store.append(stream, expected, Vec::new()).await {
                Err(StoreError::EmptyAppend { stream_id }) => assert_eq!(&stream_id, stream),
                other => panic!("expected EmptyAppend on `{stream}`, got {other:?}"),
            }
            assert_eq!(
                stream_version(&store, stream).await,
                version,
                "nothing written"
            );
        }
    }
}

/// An empty stream id is rejected, and nothing is written.
pub async fn empty_stream_id_is_rejected<S: EventStore + SnapshotStore>(store: S) {
    let case = Case::new("empty_stream_id_is_rejected");
    for expected in [ExpectedVersion::Any, ExpectedVersion::NoStream] {
        match store
            .append("", expected, vec![event(&case.event_type("E"), 1)])
            .await
        {
            Err(StoreError::InvalidStreamId { stream_id, reason }) => {
                assert_eq!(stream_id, "");
                assert!(!reason.is_empty(), "the error says why");
            }
            other => panic!("expected InvalidStreamId, got {other:?}"),
        }
    }
    assert!(
        read_all(&store, 0, usize::MAX, &case.filter(&["E"]))
            .await
            .is_empty(),
        "nothing written"
    );
}

/// A 1 MiB payload comes back whole.
pub async fn one_mib_payload_round_trips<S: EventStore + SnapshotStore>(store: S) {
    let case = Case::new("one_mib_payload_round_trips");
    let stream = case.stream("s");
    let wrapper = br#"{"blob":""}"#.len();
    let blob: String = "0123456789abcdef"
        .repeat(1 << 16)
        .chars()
        .take((1 << 20) - wrapper)
        .collect();
    let big = format!(r#"{{"blob":"{blob}"}}"#).into_bytes();
    assert_eq!(big.len(), 1 << 20);

    let batch = vec![
        event(&case.event_type("E"), 1),
        NewEvent::new(case.event_type("Big"), 1, big.clone(), Metadata::default()),
    ];
    append(&store, &stream, ExpectedVersion::NoStream, batch).await;

    let read = read_stream(&store, &stream).await;
    assert_eq!(read.len(), 2);
    assert_same_json(&read[1].payload, &big);
    assert_eq!(
        json(&read[1].payload)["blob"].as_str().map(str::len),
        Some(blob.len())
    );
}

/// Stream ids with quotes, SQL fragments, LIKE wildcards, escapes, whitespace, case and
/// Unicode variants are stored verbatim, and each one is its own stream.
pub async fn hostile_and_unicode_stream_ids_are_kept_verbatim_and_separate<
    S: EventStore + SnapshotStore,
>(
    store: S,
) {
    let case = Case::new("hostile_and_unicode_stream_ids_are_kept_verbatim_and_separate");
    let suffixes = [
        "plain",
        "'",
        "''",
        "\"",
        ";",
        "--",
        "/* comment */",
        "'; DROP TABLE events; --",
        "\"; DROP TABLE events; --",
        "Robert'); DROP TABLE streams;--",
        "a",
        "_",
        "%",
        "\\",
        "\\'",
        "$1",
        "?",
        ":name",
        "Order",
        "order",
        "ORDER",
        "x",
        "x ",
        " x",
        "tab\there",
        "line\nbreak",
        "🦀",
        "🦀 crab 🦀",
        "👨‍👩‍👧‍👦",
        "日本語のストリーム",
        "Ünïcödé",
        "\u{e9}",   // é, precomposed (NFC)
        "e\u{301}", // é, decomposed (NFD)
        "\u{202e}rtl",
    ];
    let ids: Vec<String> = suffixes.iter().map(|s| case.stream(s)).collect();
    let ty = case.event_type("E");

    for (n, id) in ids.iter().enumerate() {
        // NoStream: if the store confused two of these ids, the second append would conflict.
        let result = append(
            &store,
            id,
            ExpectedVersion::NoStream,
            vec![event(&ty, n as u64)],
        )
        .await;
        assert_eq!(result.stream_version, 1, "`{id}` is a new stream");
    }
    for (n, id) in ids.iter().enumerate() {
        let read = read_stream(&store, id).await;
        assert_eq!(read.len(), 1, "`{id}` holds exactly its own event");
        assert_eq!(&read[0].stream_id, id, "stream id read back verbatim");
        assert_eq!(n_of(&read[0]), n as u64, "`{id}` holds its own event");
        assert_eq!(stream_version(&store, id).await, 1);
    }

    let logged = read_all(&store, 0, usize::MAX, &case.filter(&["E"])).await;
    let logged_ids: Vec<_> = logged.iter().map(|e| e.stream_id.clone()).collect();
    assert_eq!(logged_ids, ids, "stream ids in the global log, verbatim");
}

/// A 10,000-event stream, appended in batches of 1,000, reads back completely and in order,
/// in one read and in pages.
pub async fn ten_thousand_event_stream_reads_back_completely_in_order<
    S: EventStore + SnapshotStore,
>(
    store: S,
) {
    let case = Case::new("ten_thousand_event_stream_reads_back_completely_in_order");
    let stream = case.stream("s");
    let ty = case.event_type("E");
    for batch in 0..10u64 {
        let from = batch * 1000 + 1;
        let result = append(
            &store,
            &stream,
            ExpectedVersion::Exact(from - 1),
            events(&ty, from..from + 1000),
        )
        .await;
        assert_eq!(result.stream_version, from + 999);
    }
    assert_eq!(stream_version(&store, &stream).await, 10_000);

    let read = read_stream(&store, &stream).await;
    assert_eq!(read.len(), 10_000);
    for (i, event) in read.iter().enumerate() {
        assert_eq!(event.stream_version, i as u64 + 1);
        assert_eq!(n_of(event), i as u64 + 1);
    }
    assert_strictly_increasing(&positions(&read), "positions of the stream");

    let page = store.read_stream(&stream, 5001, 1000).await.unwrap();
    assert_eq!(versions(&page), (5001..=6000).collect::<Vec<_>>());
}

/// The head position is 0 when the log is empty.
pub async fn head_position_is_zero_for_an_empty_log<S: EventStore + SnapshotStore>(store: S) {
    let head_first = head(&store).await;
    // Read after the head: if the log is empty now, it was empty when the head was read.
    if read_all(&store, 0, 1, &EventFilter::all()).await.is_empty() {
        assert_eq!(head_first, 0);
    }
}

/// The head position is the position of the last event appended.
pub async fn head_position_tracks_appends<S: EventStore + SnapshotStore>(store: S) {
    let case = Case::new("head_position_tracks_appends");
    let ty = case.event_type("E");
    let before = head(&store).await;
    let first = append(
        &store,
        &case.stream("a"),
        ExpectedVersion::NoStream,
        events(&ty, 1..=3),
    )
    .await;
    assert!(
        first.positions[0] > before,
        "new events come after the head"
    );
    let after_first = head(&store).await;
    assert!(
        after_first >= first.last_position(),
        "the head includes the last append"
    );
    let second = append(
        &store,
        &case.stream("b"),
        ExpectedVersion::NoStream,
        vec![event(&ty, 4)],
    )
    .await;
    assert!(second.last_position() > after_first);
    assert!(head(&store).await >= second.last_position());

    // A fresh store's head is exactly the last appended position.
    if before == 0 {
        assert_eq!(head(&store).await, second.last_position());
    }
}

// ---------------------------------------------------------------------------------------
// Snapshots
// ---------------------------------------------------------------------------------------

/// A stream has no snapshot until one is saved.
pub async fn no_snapshot_at_first<S: EventStore + SnapshotStore>(store: S) {
    let case = Case::new("no_snapshot_at_first");
    let stream = case.stream("s");
    append(
        &store,
        &stream,
        ExpectedVersion::NoStream,
        vec![event(&case.event_type("E"), 1)],
    )
    .await;
    assert!(load_snapshot(&store, &stream).await.is_none());
}

/// A saved snapshot loads back with every field.
pub async fn saved_snapshot_loads_back<S: EventStore + SnapshotStore>(store: S) {
    let case = Case::new("saved_snapshot_loads_back");
    let saved = snapshot(
        &case.stream("s"),
        5,
        r#"{"balance":120,"owner":"Ada é 🦀"}"#.as_bytes(),
    );
    save_snapshot(&store, saved.clone()).await;
    let loaded = load_snapshot(&store, &saved.stream_id)
        .await
        .expect("the snapshot was saved");
    assert_same_snapshot(&loaded, &saved);
}

/// A snapshot of a later version replaces the stored one.
pub async fn later_snapshot_replaces_an_earlier_one<S: EventStore + SnapshotStore>(store: S) {
    let case = Case::new("later_snapshot_replaces_an_earlier_one");
    let stream = case.stream("s");
    save_snapshot(&store, snapshot(&stream, 5, br#"{"v":5}"#)).await;
    let later = snapshot(&stream, 10, br#"{"v":10}"#);
    save_snapshot(&store, later.clone()).await;
    assert_same_snapshot(&load_snapshot(&store, &stream).await.unwrap(), &later);
}

/// A snapshot of an earlier version (a slow writer) does not replace a newer one.
pub async fn older_snapshot_does_not_replace_a_newer_one<S: EventStore + SnapshotStore>(store: S) {
    let case = Case::new("older_snapshot_does_not_replace_a_newer_one");
    let stream = case.stream("s");
    let newer = snapshot(&stream, 10, br#"{"v":10}"#);
    save_snapshot(&store, newer.clone()).await;
    save_snapshot(&store, snapshot(&stream, 5, br#"{"v":5}"#)).await;
    assert_same_snapshot(&load_snapshot(&store, &stream).await.unwrap(), &newer);
}

/// Each stream has its own snapshot.
pub async fn snapshots_are_per_stream<S: EventStore + SnapshotStore>(store: S) {
    let case = Case::new("snapshots_are_per_stream");
    let a = snapshot(&case.stream("a"), 3, br#"{"s":"a"}"#);
    let b = snapshot(&case.stream("b"), 7, br#"{"s":"b"}"#);
    save_snapshot(&store, a.clone()).await;
    save_snapshot(&store, b.clone()).await;
    assert_same_snapshot(&load_snapshot(&store, &a.stream_id).await.unwrap(), &a);
    assert_same_snapshot(&load_snapshot(&store, &b.stream_id).await.unwrap(), &b);
    assert!(load_snapshot(&store, &case.stream("c")).await.is_none());
}

// ---------------------------------------------------------------------------------------
// Temporal loads (through the repository, on this store)
// ---------------------------------------------------------------------------------------

/// `load_at_version` gives the account after exactly its first n events, for each n.
pub async fn temporal_load_at_each_version<S: EventStore + SnapshotStore>(store: S) {
    use annals_examples::bank::{Account, Deposit, Open};
    let case = Case::new("temporal_load_at_each_version");
    let id = case.stream("account");
    let accounts = annals::Repository::<Account, _>::new(store);
    accounts
        .execute(Open {
            account: id.clone(),
            owner: "Ada".into(),
        })
        .await
        .unwrap();
    for amount in [10, 20, 30] {
        let deposit = Deposit {
            account: id.clone(),
            amount,
            reference: String::new(),
        };
        accounts.execute(deposit).await.unwrap();
    }
    let balances: Vec<(u64, i64)> = {
        let mut balances = Vec::new();
        for version in 0..=5 {
            let loaded = accounts.load_at_version(&id, version).await.unwrap();
            balances.push((loaded.version, loaded.state.balance));
        }
        balances
    };
    assert_eq!(
        balances,
        [(0, 0), (1, 0), (2, 10), (3, 30), (4, 60), (4, 60)]
    );
}

/// `load_as_of` a time between two appends gives the state before the later one.
pub async fn temporal_load_as_of_a_time_between_appends<S: EventStore + SnapshotStore>(store: S) {
    use annals_examples::bank::{Account, Deposit, Open};
    let case = Case::new("temporal_load_as_of_a_time_between_appends");
    let id = case.stream("account");
    let accounts = annals::Repository::<Account, _>::new(store);
    let opened = accounts
        .execute(Open {
            account: id.clone(),
            owner: "Ada".into(),
        })
        .await
        .unwrap();
    let deposit = Deposit {
        account: id.clone(),
        amount: 10,
        reference: String::new(),
    };
    let first = accounts.execute(deposit.clone()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    accounts.execute(deposit).await.unwrap();

    let between = first.events[0].recorded_at + TimeDelta::milliseconds(5);
    let then = accounts.load_as_of(&id, between).await.unwrap();
    assert_eq!((then.version, then.state.balance), (2, 10));
    let before = opened.events[0].recorded_at - TimeDelta::seconds(1);
    let nothing = accounts.load_as_of(&id, before).await.unwrap();
    assert_eq!(nothing.version, 0);
}
