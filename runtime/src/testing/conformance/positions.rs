//! Stream versions and global positions.

use super::support::*;
/// Stream versions start at 1 and have no gaps, across appends of different sizes and
/// with other streams written in between.
pub async fn stream_versions_are_one_based_and_gap_free<S: EventStore>(store: S) {
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
pub async fn first_event_of_an_empty_store_has_position_one<S: EventStore>(store: S) {
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
pub async fn global_positions_increase_strictly_across_streams<S: EventStore>(store: S) {
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
pub async fn append_positions_match_positions_read_back<S: EventStore>(store: S) {
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
