//! Reading the global log: order, filters, counts, and a reader tailing writers.

use super::support::*;
/// `read_all` returns the events at and after `from_position`; 0 and 1 read from the start.
pub async fn read_all_from_a_position<S: EventStore>(store: S) {
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
pub async fn read_all_finds_sparse_events_far_apart<S: EventStore>(store: S) {
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
pub async fn visit_all_sees_what_read_all_returns<S: EventStore>(store: S) {
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
pub async fn visit_all_hands_over_each_envelope_whole<S: EventStore>(store: S) {
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
pub async fn count_after_counts_what_read_all_returns<S: EventStore>(store: S) {
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
pub async fn read_all_respects_max_count<S: EventStore>(store: S) {
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
pub async fn read_all_filters_by_event_type<S: EventStore>(store: S) {
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
pub async fn read_all_max_count_counts_only_matching_events<S: EventStore>(store: S) {
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
pub async fn read_all_filter_matching_nothing_is_empty<S: EventStore>(store: S) {
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
pub async fn concurrent_writers_never_make_a_tailing_reader_skip_an_event<S: EventStore>(store: S) {
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
