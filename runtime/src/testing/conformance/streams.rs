//! Reading one stream.

use super::support::*;
/// `read_stream` from a version in the middle returns that version and the ones after it.
pub async fn read_stream_from_a_middle_version<S: EventStore>(store: S) {
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
pub async fn visit_stream_sees_what_read_stream_returns<S: EventStore>(store: S) {
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

/// The first event `visit_stream` hands out carries its id (what a snapshot is checked
/// against); any other id handed out is the event's own.
pub async fn visit_stream_hands_the_first_events_id<S: EventStore>(store: S) {
    let case = Case::new("visit_stream_hands_the_first_events_id");
    let stream = case.stream("s");
    let written = events(&case.event_type("E"), 1..=4);
    append(&store, &stream, ExpectedVersion::NoStream, written.clone()).await;
    for from in 1..=4u64 {
        let mut ids = Vec::new();
        store
            .visit_stream(&stream, from, usize::MAX, &mut |event| {
                ids.push((event.stream_version, event.event_id));
                std::ops::ControlFlow::Continue(())
            })
            .await
            .unwrap();
        let first = written[from as usize - 1].event_id;
        assert_eq!(
            ids[0],
            (from, Some(first)),
            "the first event visited from {from}"
        );
        for (version, id) in &ids[1..] {
            if let Some(id) = id {
                assert_eq!(*id, written[*version as usize - 1].event_id);
            }
        }
    }
}

/// `visit_stream` starts at `from_version` and reads at most `max_count` events.
pub async fn visit_stream_respects_from_and_max_count<S: EventStore>(store: S) {
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
pub async fn visit_stream_stops_when_the_visitor_breaks<S: EventStore>(store: S) {
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
pub async fn read_stream_respects_max_count<S: EventStore>(store: S) {
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
pub async fn read_stream_from_version_zero_reads_from_the_start<S: EventStore>(store: S) {
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
pub async fn reads_past_the_end_are_empty<S: EventStore>(store: S) {
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

/// A stream that was never written reads as empty, at version 0.
pub async fn unknown_stream_is_empty_with_version_zero<S: EventStore>(store: S) {
    let case = Case::new("unknown_stream_is_empty_with_version_zero");
    let stream = case.stream("never-written");
    assert!(read_stream(&store, &stream).await.is_empty());
    assert!(store.read_stream(&stream, 5, 10).await.unwrap().is_empty());
    assert_eq!(stream_version(&store, &stream).await, 0);
}
