//! `InMemoryStore` against the store conformance suite, plus what is specific to it.

mod conformance;

use annals::{EventStore, ExpectedVersion, InMemoryStore, Metadata, NewEvent, SnapshotStore};

conformance_suite!(async { InMemoryStore::new() });

fn event(n: u64) -> NewEvent {
    NewEvent::new(
        "Ticked",
        1,
        format!(r#"{{"n":{n}}}"#).into_bytes(),
        Metadata::default(),
    )
}

/// Clones are handles to the same store: what one writes, the other reads.
#[tokio::test]
async fn clones_share_data() {
    let store = InMemoryStore::new();
    let clone = store.clone();
    store
        .append("clock-1", ExpectedVersion::NoStream, vec![event(1)])
        .await
        .unwrap();
    clone
        .append("clock-1", ExpectedVersion::Exact(1), vec![event(2)])
        .await
        .unwrap();

    assert_eq!(store.stream_version("clock-1").await.unwrap(), 2);
    assert_eq!(clone.head_position().await.unwrap(), 2);
    let read = store.read_stream("clock-1", 1, usize::MAX).await.unwrap();
    assert_eq!(read.len(), 2);

    let snapshot = annals::Snapshot {
        stream_id: "clock-1".to_owned(),
        stream_version: 2,
        schema_version: 1,
        payload: br#"{"n":2}"#.to_vec(),
        taken_at: chrono::Utc::now(),
    };
    clone.save_snapshot(snapshot.clone()).await.unwrap();
    assert_eq!(
        store.load_snapshot("clock-1").await.unwrap(),
        Some(snapshot)
    );

    // A new store is separate.
    assert_eq!(InMemoryStore::default().head_position().await.unwrap(), 0);
}

/// `subscribe_head` starts at the current head and sees the head after each append.
#[tokio::test]
async fn subscribe_head_sees_the_new_head_after_an_append() {
    let store = InMemoryStore::new();
    store
        .append("clock-1", ExpectedVersion::NoStream, vec![event(1)])
        .await
        .unwrap();

    let mut head = store.subscribe_head();
    assert_eq!(*head.borrow_and_update(), 1);

    let writer = store.clone();
    let append = tokio::spawn(async move {
        writer
            .append(
                "clock-2",
                ExpectedVersion::NoStream,
                vec![event(2), event(3)],
            )
            .await
            .unwrap()
    });
    head.changed().await.unwrap();
    assert_eq!(*head.borrow_and_update(), 3);
    assert_eq!(append.await.unwrap().last_position(), 3);

    // A rejected append does not move the head.
    let conflict = store
        .append("clock-2", ExpectedVersion::NoStream, vec![event(4)])
        .await;
    assert!(conflict.unwrap_err().is_conflict());
    assert!(!head.has_changed().unwrap());
}
