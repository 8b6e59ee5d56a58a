//! Re-sent appends: an append whose outcome was unknown (a connection cut mid-append) is
//! sent again with the same events, the same ids; it is recorded once, and reports its
//! first result. Event ids are unique in a store.

use super::support::*;
use uuid::Uuid;

/// Appends `events`, which must be accepted, failing with the store's error otherwise.
async fn append_ok<S: EventStore>(
    store: &S,
    stream: &str,
    expected: ExpectedVersion,
    events: &[NewEvent],
) -> AppendResult {
    append(store, stream, expected, events.to_vec()).await
}

/// The same three events sent twice with `NoStream`: recorded once; the second send
/// reports the first's result.
pub async fn a_resent_append_is_recorded_once_with_its_first_result<S: EventStore>(store: S) {
    let case = Case::new("a_resent_append_is_recorded_once_with_its_first_result");
    let stream = case.stream("s");
    let sent = events(&case.event_type("E"), 1..=3);
    let first = append_ok(&store, &stream, ExpectedVersion::NoStream, &sent).await;
    let again = append_ok(&store, &stream, ExpectedVersion::NoStream, &sent).await;
    assert_eq!(again, first, "the re-sent append reports the first result");
    let stored = read_stream(&store, &stream).await;
    assert_eq!(versions(&stored), [1, 2, 3], "recorded once");
    let in_log = read_all(&store, 0, usize::MAX, &case.filter(&["E"])).await;
    assert_eq!(in_log.len(), 3, "recorded once in the global log");
}

/// One event at a known version, re-sent after the stream moved on: still its first
/// result, not a conflict (the retry of a command whose append's outcome was unknown).
pub async fn a_resent_event_at_a_known_version_reports_its_first_result<S: EventStore>(store: S) {
    let case = Case::new("a_resent_event_at_a_known_version_reports_its_first_result");
    let stream = case.stream("s");
    let ty = case.event_type("E");
    let opened = [event(&ty, 1)];
    let first = append_ok(&store, &stream, ExpectedVersion::Exact(0), &opened).await;
    let deposited = [event(&ty, 2)];
    let second = append_ok(&store, &stream, ExpectedVersion::Exact(1), &deposited).await;
    assert_eq!(
        append_ok(&store, &stream, ExpectedVersion::Exact(1), &deposited).await,
        second
    );
    assert_eq!(
        append_ok(&store, &stream, ExpectedVersion::Exact(0), &opened).await,
        first,
        "re-sent after the stream moved on"
    );
    assert_eq!(versions(&read_stream(&store, &stream).await), [1, 2]);
}

/// A re-sent append with `Any` or `StreamExists` is recorded once too.
pub async fn a_resent_append_with_any_is_recorded_once<S: EventStore>(store: S) {
    let case = Case::new("a_resent_append_with_any_is_recorded_once");
    let stream = case.stream("s");
    let ty = case.event_type("E");
    append_ok(&store, &stream, ExpectedVersion::Any, &[event(&ty, 0)]).await;
    let sent = events(&ty, 1..=2);
    let first = append_ok(&store, &stream, ExpectedVersion::Any, &sent).await;
    assert_eq!(
        append_ok(&store, &stream, ExpectedVersion::Any, &sent).await,
        first
    );
    assert_eq!(
        append_ok(&store, &stream, ExpectedVersion::StreamExists, &sent).await,
        first
    );
    assert_eq!(versions(&read_stream(&store, &stream).await), [1, 2, 3]);
}

/// An event id stored in one stream is refused in another: ids are unique in a store.
pub async fn an_event_id_stored_in_another_stream_is_refused<S: EventStore>(store: S) {
    let case = Case::new("an_event_id_stored_in_another_stream_is_refused");
    let (a, b) = (case.stream("a"), case.stream("b"));
    let sent = [event(&case.event_type("E"), 1)];
    append_ok(&store, &a, ExpectedVersion::NoStream, &sent).await;
    match store.append(&b, ExpectedVersion::Any, sent.to_vec()).await {
        Err(StoreError::DuplicateEventId {
            event_id,
            stored_in,
            stream_version,
        }) => {
            assert_eq!(event_id, sent[0].event_id);
            assert_eq!((stored_in.as_str(), stream_version), (a.as_str(), 1));
        }
        other => panic!("expected the id to be refused, got {other:?}"),
    }
    assert!(read_stream(&store, &b).await.is_empty(), "nothing written");
}

/// An append mixing a stored id with new events is refused whole.
pub async fn an_append_reusing_a_stored_id_is_refused_whole<S: EventStore>(store: S) {
    let case = Case::new("an_append_reusing_a_stored_id_is_refused_whole");
    let stream = case.stream("s");
    let ty = case.event_type("E");
    let stored = event(&ty, 1);
    append_ok(
        &store,
        &stream,
        ExpectedVersion::NoStream,
        std::slice::from_ref(&stored),
    )
    .await;
    let mixed = vec![event(&ty, 2), stored, event(&ty, 3)];
    let refused = store.append(&stream, ExpectedVersion::Any, mixed).await;
    assert!(
        matches!(refused, Err(StoreError::DuplicateEventId { .. })),
        "{refused:?}"
    );
    assert_eq!(
        versions(&read_stream(&store, &stream).await),
        [1],
        "nothing written"
    );
}

/// An id given twice in one append is refused before anything is written.
pub async fn an_id_twice_in_one_append_is_refused<S: EventStore>(store: S) {
    let case = Case::new("an_id_twice_in_one_append_is_refused");
    let stream = case.stream("s");
    let twice = event(&case.event_type("E"), 1);
    let refused = store
        .append(&stream, ExpectedVersion::Any, vec![twice.clone(), twice])
        .await;
    assert!(
        matches!(refused, Err(StoreError::InvalidEvent { .. })),
        "{refused:?}"
    );
    assert!(read_stream(&store, &stream).await.is_empty());
}

/// `locate_events` finds the stored ids (stream, version, position) and leaves out the
/// ones the log does not hold.
pub async fn located_events_are_where_they_were_appended<S: EventStore>(store: S) {
    let case = Case::new("located_events_are_where_they_were_appended");
    let stream = case.stream("s");
    let sent = events(&case.event_type("E"), 1..=3);
    let appended = append_ok(&store, &stream, ExpectedVersion::NoStream, &sent).await;
    let absent = Uuid::now_v7();
    let wanted = [sent[2].event_id, absent, sent[0].event_id];
    let mut found = store
        .locate_events(&wanted)
        .await
        .unwrap_or_else(|error| panic!("locate_events failed: {error}"));
    found.sort_by_key(|location| location.stream_version);
    let places: Vec<(Uuid, &str, u64, u64)> = found
        .iter()
        .map(|l| {
            (
                l.event_id,
                l.stream_id.as_str(),
                l.stream_version,
                l.position,
            )
        })
        .collect();
    assert_eq!(
        places,
        [
            (sent[0].event_id, stream.as_str(), 1, appended.positions[0]),
            (sent[2].event_id, stream.as_str(), 3, appended.positions[2]),
        ]
    );
    assert!(
        store.locate_events(&[absent]).await.unwrap().is_empty(),
        "an id the log does not hold is not found"
    );
}
