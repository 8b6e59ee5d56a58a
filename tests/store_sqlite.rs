//! `SqliteStore` against the store conformance suite, plus what is specific to it: the file
//! persists across opens, and migrations run once.

mod conformance;
mod services;

use std::path::PathBuf;

use annals::store::sqlite::SqliteStore;
use annals::{EventStore, ExpectedVersion, Metadata, NewEvent};

/// A fresh database file for one test.
fn fresh_path(label: &str) -> PathBuf {
    services::sqlite_path(label)
}

conformance_suite!(async {
    SqliteStore::open(fresh_path("conformance")).expect("open a fresh SQLite store")
});

fn event(n: u64) -> NewEvent {
    NewEvent::new(
        "Ticked",
        1,
        format!(r#"{{"n":{n}}}"#).into_bytes(),
        Metadata::default(),
    )
}

/// Events written through one handle are there after the file is opened again.
#[tokio::test]
async fn events_persist_across_opens() {
    let path = fresh_path("persist");
    {
        let store = SqliteStore::open(&path).unwrap();
        store
            .append(
                "clock-1",
                ExpectedVersion::NoStream,
                vec![event(1), event(2)],
            )
            .await
            .unwrap();
    }
    let reopened = SqliteStore::open(&path).unwrap();
    let events = reopened.read_stream("clock-1", 1, 10).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.stream_version).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert_eq!(reopened.head_position().await.unwrap(), 2);
}

/// Opening an existing file does not re-run migrations (which would fail on existing tables).
#[tokio::test]
async fn reopening_does_not_rerun_migrations() {
    let path = fresh_path("migrate");
    drop(SqliteStore::open(&path).unwrap());
    drop(SqliteStore::open(&path).unwrap());
    let store = SqliteStore::open(&path).unwrap();
    store
        .append("clock-1", ExpectedVersion::NoStream, vec![event(1)])
        .await
        .unwrap();
}

/// Two handles on one file (as two processes would have) see each other's appends, and the
/// expected-version check holds across them.
#[tokio::test]
async fn two_handles_on_one_file_share_the_log() {
    let path = fresh_path("two-handles");
    let first = SqliteStore::open(&path).unwrap();
    let second = SqliteStore::open(&path).unwrap();
    first
        .append("clock-1", ExpectedVersion::NoStream, vec![event(1)])
        .await
        .unwrap();
    let conflict = second
        .append("clock-1", ExpectedVersion::NoStream, vec![event(2)])
        .await
        .unwrap_err();
    assert!(conflict.is_conflict(), "{conflict}");
    second
        .append("clock-1", ExpectedVersion::Exact(1), vec![event(2)])
        .await
        .unwrap();
    assert_eq!(first.stream_version("clock-1").await.unwrap(), 2);
}

/// `subscribe_head` sees the new head after an append.
#[tokio::test]
async fn subscribe_head_sees_appends() {
    let store = SqliteStore::open(fresh_path("head")).unwrap();
    let mut head = store.subscribe_head();
    store
        .append("clock-1", ExpectedVersion::NoStream, vec![event(1)])
        .await
        .unwrap();
    head.changed().await.unwrap();
    assert_eq!(*head.borrow(), 1);
}

/// Events written before migration 0003 kept their correlation and causation ids in the
/// metadata JSON only; they still read back with them, from a stream and from the log.
#[tokio::test]
async fn ids_of_events_written_before_the_id_columns_still_read_back() {
    let path = fresh_path("legacy-ids");
    let store = SqliteStore::open(&path).unwrap();
    let (correlation, causation) = (annals::Uuid::now_v7(), annals::Uuid::now_v7());
    let legacy = format!(
        r#"{{"correlation_id":"{correlation}","causation_id":"{causation}","extra":{{"user":"ada"}}}}"#
    );
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute(
            "INSERT INTO annals_events (stream_id, stream_version, event_id, event_type, schema_version, payload, metadata, recorded_at)
             VALUES ('legacy-1', 1, ?1, 'Ticked', 1, CAST('{}' AS BLOB), ?2, 0)",
            rusqlite::params![annals::Uuid::now_v7().as_bytes(), legacy],
        )
        .unwrap();
    let from_stream = store.read_stream("legacy-1", 1, 1).await.unwrap();
    let mut from_log = Vec::new();
    store
        .visit_all(0, 1, &annals::EventFilter::all(), &mut |event| {
            from_log.push(event.metadata.clone());
            std::ops::ControlFlow::Continue(())
        })
        .await
        .unwrap();
    for metadata in [&from_stream[0].metadata, &from_log[0]] {
        assert_eq!(
            (metadata.correlation_id, metadata.causation_id),
            (Some(correlation), Some(causation))
        );
        assert_eq!(metadata.extra["user"], "ada");
    }
}
