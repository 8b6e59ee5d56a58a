//! Snapshots: the latest per stream.

use super::support::*;

/// A stream that was never written has no snapshot.
pub async fn unknown_stream_has_no_snapshot<S: SnapshotStore>(store: S) {
    let case = Case::new("unknown_stream_has_no_snapshot");
    assert!(
        load_snapshot(&store, &case.stream("never-written"))
            .await
            .is_none()
    );
}

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
