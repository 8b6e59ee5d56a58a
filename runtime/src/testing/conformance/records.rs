//! What the store keeps of each event, and what it refuses.

use super::support::*;
/// Correlation id, causation id and user key/values come back as written, and empty
/// metadata comes back empty.
pub async fn metadata_round_trips<S: EventStore>(store: S) {
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
pub async fn event_id_type_and_schema_version_round_trip<S: EventStore>(store: S) {
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
pub async fn recorded_at_is_set_and_shared_within_an_append<S: EventStore>(store: S) {
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
pub async fn empty_append_is_rejected<S: EventStore>(store: S) {
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
pub async fn empty_stream_id_is_rejected<S: EventStore>(store: S) {
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
pub async fn one_mib_payload_round_trips<S: EventStore>(store: S) {
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
pub async fn hostile_and_unicode_stream_ids_are_kept_verbatim_and_separate<S: EventStore>(
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
pub async fn ten_thousand_event_stream_reads_back_completely_in_order<S: EventStore>(store: S) {
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
pub async fn head_position_is_zero_for_an_empty_log<S: EventStore>(store: S) {
    let head_first = head(&store).await;
    // Read after the head: if the log is empty now, it was empty when the head was read.
    if read_all(&store, 0, 1, &EventFilter::all()).await.is_empty() {
        assert_eq!(head_first, 0);
    }
}

/// The head position is the position of the last event appended.
pub async fn head_position_tracks_appends<S: EventStore>(store: S) {
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

/// The store keeps one catalog of names: a stream kind claimed by one type is refused to
/// another, whatever the call.
pub async fn the_catalog_refuses_a_second_claimant<S: EventStore>(store: S) {
    struct First;
    struct Second;
    // The kind is this case's: `First` is a type of its own, claiming it again is fine.
    let kind = "conformance_catalog_kind";
    store
        .catalog()
        .claim_kind(kind, Owner::of::<First>())
        .unwrap_or_else(|e| panic!("the first claim of `{kind}` failed: {e}"));
    assert!(
        store
            .catalog()
            .claim_kind(kind, Owner::of::<Second>())
            .is_err(),
        "a second type's claim of `{kind}` was accepted: is the catalog kept by the store?"
    );
    assert!(
        store
            .catalog()
            .claim_kind(kind, Owner::of::<First>())
            .is_ok()
    );
}

/// One rule for what a store holds, checked before anything is written: a stream id of at
/// most 1,024 bytes without NUL; a type name of 1 to 256 bytes without NUL; no NUL in a
/// payload (`\u0000`) or in metadata.
pub async fn what_no_store_holds_is_refused_before_writing<S: EventStore>(store: S) {
    use crate::store::{MAX_EVENT_TYPE_BYTES, MAX_STREAM_ID_BYTES};
    let case = Case::new("what_no_store_holds_is_refused_before_writing");
    let stream = case.stream("s");
    let ty = case.event_type("E");

    let long_id = format!("{stream}{}", "x".repeat(MAX_STREAM_ID_BYTES));
    let refused = store
        .append(&long_id, ExpectedVersion::Any, vec![event(&ty, 1)])
        .await;
    assert!(
        matches!(refused, Err(StoreError::InvalidStreamId { .. })),
        "{refused:?}"
    );
    let longest = format!("{stream}{}", "x".repeat(MAX_STREAM_ID_BYTES - stream.len()));
    append(&store, &longest, ExpectedVersion::Any, vec![event(&ty, 1)]).await;

    let mut nul_type = event(&ty, 2);
    nul_type.event_type.push('\0');
    let mut long_type = event(&ty, 3);
    long_type.event_type = "t".repeat(MAX_EVENT_TYPE_BYTES + 1);
    let mut nul_payload = event(&ty, 4);
    nul_payload.payload = br#"{"n":4,"note":"a\u0000b"}"#.to_vec();
    let mut nul_metadata = event(&ty, 5);
    nul_metadata.metadata = Metadata::default().with("user", "a\0b");
    for invalid in [nul_type, long_type, nul_payload, nul_metadata] {
        let batch = vec![event(&ty, 0), invalid];
        let refused = store.append(&stream, ExpectedVersion::Any, batch).await;
        assert!(
            matches!(refused, Err(StoreError::InvalidEvent { .. })),
            "{refused:?}"
        );
    }
    assert!(
        read_stream(&store, &stream).await.is_empty(),
        "nothing written"
    );

    // An escaped backslash before `u0000` is text, and stored.
    let mut text = event(&ty, 6);
    text.payload = br#"{"n":6,"note":"a\\u0000b"}"#.to_vec();
    append(&store, &stream, ExpectedVersion::Any, vec![text.clone()]).await;
    assert_same_json(
        &read_stream(&store, &stream).await[0].payload,
        &text.payload,
    );
}
