//! Appends and their expected versions: optimistic concurrency.

use super::support::*;
/// `NoStream` appends to a stream that has no events, which starts at version 1.
pub async fn append_with_no_stream_creates_the_stream<S: EventStore>(store: S) {
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
pub async fn append_with_any_creates_the_stream<S: EventStore>(store: S) {
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
pub async fn append_with_exact_zero_creates_the_stream<S: EventStore>(store: S) {
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
pub async fn no_stream_conflicts_on_an_existing_stream<S: EventStore>(store: S) {
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
pub async fn stream_exists_appends_to_an_existing_stream<S: EventStore>(store: S) {
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
pub async fn stream_exists_conflicts_on_a_new_stream<S: EventStore>(store: S) {
    let case = Case::new("stream_exists_conflicts_on_a_new_stream");
    let stream = case.stream("s");
    assert_rejected_append(&store, &case, &stream, ExpectedVersion::StreamExists, 0).await;
}

/// `Exact(n)` appends when the stream is at version n.
pub async fn exact_appends_at_the_current_version<S: EventStore>(store: S) {
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
pub async fn exact_conflicts_on_a_stale_version<S: EventStore>(store: S) {
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
pub async fn exact_conflicts_on_a_version_ahead<S: EventStore>(store: S) {
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
pub async fn exact_conflicts_on_a_new_stream<S: EventStore>(store: S) {
    let case = Case::new("exact_conflicts_on_a_new_stream");
    let stream = case.stream("s");
    assert_rejected_append(&store, &case, &stream, ExpectedVersion::Exact(1), 0).await;
}

/// `Exact(0)` on a stream that has events is a conflict, and writes nothing.
pub async fn exact_zero_conflicts_on_an_existing_stream<S: EventStore>(store: S) {
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
pub async fn any_appends_to_an_existing_stream<S: EventStore>(store: S) {
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
pub async fn conflict_writes_nothing_and_the_stream_continues_gap_free<S: EventStore>(store: S) {
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
pub async fn concurrent_appends_with_one_expected_version_have_one_winner<S: EventStore>(store: S) {
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

/// An expected version no stream can be at (`u64::MAX`) is a conflict, on every path.
pub async fn an_impossible_expected_version_conflicts<S: EventStore>(store: S) {
    let case = Case::new("an_impossible_expected_version_conflicts");
    let stream = case.stream("s");
    let ty = case.event_type("E");
    append(
        &store,
        &stream,
        ExpectedVersion::NoStream,
        vec![event(&ty, 0)],
    )
    .await;
    for size in [1, 3] {
        assert_conflict(
            store
                .append(
                    &stream,
                    ExpectedVersion::Exact(u64::MAX),
                    events(&ty, 1..=size),
                )
                .await,
            &stream,
            ExpectedVersion::Exact(u64::MAX),
            1,
        );
    }
}
