//! Every store against the conformance suite (`annals::testing::conformance`), plus what
//! is specific to each: one test binary for the three stores.

mod services;

use annals::store::{Metadata, NewEvent};

/// An event of type `Ticked` with payload `{"n":n}`.
fn event(n: u64) -> NewEvent {
    NewEvent::new(
        "Ticked",
        1,
        format!(r#"{{"n":{n}}}"#).into_bytes(),
        Metadata::default(),
    )
}

/// `InMemoryStore`: clones share one log, and the head is announced to subscribers.
mod memory {
    use super::event;

    annals::testing::conformance_suite! {
        store: async { annals::store::InMemoryStore::new() },
        suites: [events, snapshots, checkpoints, dead_letters, open_sagas],
    }

    use annals::store::{EventStore, ExpectedVersion, InMemoryStore, SnapshotStore};

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

        let snapshot = annals::store::Snapshot {
            stream_id: "clock-1".to_owned(),
            stream_version: 2,
            event_id: read[1].event_id,
            schema_version: 1,
            shape: 7,
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
}

/// `SqliteStore`: the file persists across opens, migrations run once, two handles on one
/// file share the log.
mod sqlite {
    use super::{event, services};

    annals::testing::conformance_suite! {
        store: async { SqliteStore::open(fresh_path("conformance")).expect("open a fresh SQLite store") },
        suites: [events, snapshots, checkpoints, dead_letters, open_sagas, sql_read_models, inboxes],
    }

    use std::path::PathBuf;

    use annals::store::SqliteStore;
    use annals::store::{EventStore, ExpectedVersion};

    /// A fresh database file for one test.
    fn fresh_path(label: &str) -> PathBuf {
        services::sqlite_path(label)
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
            .visit_all(0, 1, &annals::store::EventFilter::all(), &mut |event| {
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
}

/// `PostgresStore`: migrations, schema names, and what the server refuses.
mod postgres {
    use super::{event, services};

    annals::testing::conformance_suite! {
        optional store: services::postgres_store(4),
        suites: [events, snapshots, checkpoints, dead_letters, open_sagas, sql_read_models, inboxes],
    }

    use annals::store::{EventStore, ExpectedVersion, Metadata, NewEvent, StoreError};
    use annals::store::{PostgresOptions, PostgresStore};

    /// Connecting twice to one schema runs the migrations once (the second connect finds them
    /// applied) and keeps the data.
    #[tokio::test]
    async fn reconnecting_keeps_data_and_does_not_rerun_migrations() {
        let Some(store) = services::postgres_store(2).await else {
            return;
        };
        store
            .append("clock-1", ExpectedVersion::NoStream, vec![event(1)])
            .await
            .unwrap();
        let again = PostgresStore::connect_with(
            PostgresOptions::new(services::database_url()).with_schema(store.schema()),
        )
        .await
        .unwrap();
        assert_eq!(again.stream_version("clock-1").await.unwrap(), 1);
    }

    /// Concurrent first connects to a new schema do not race each other's migrations.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_first_connects_migrate_once() {
        let Some(_) = services::raw_client().await else {
            return;
        };
        let schema = services::fresh_schema();
        let connects = (0..4).map(|_| {
            let options = PostgresOptions::new(services::database_url())
                .with_schema(schema.clone())
                .with_pool_size(1);
            tokio::spawn(PostgresStore::connect_with(options))
        });
        for connect in connects {
            connect.await.unwrap().unwrap();
        }
    }

    /// The migrations are available as SQL, with the schema filled in and quoted.
    #[test]
    fn migrations_are_exposed_as_sql() {
        let migrations = PostgresStore::migrations("bank").unwrap();
        assert_eq!(migrations[0].name, "0001_events_and_snapshots");
        assert!(migrations[0].sql.contains("CREATE TABLE \"bank\".events"));
    }

    /// A schema name that could inject SQL is rejected before anything reaches the server.
    #[tokio::test]
    async fn hostile_schema_names_are_rejected() {
        let options = PostgresOptions::new(services::database_url())
            .with_schema("x\"; DROP SCHEMA public; --");
        let error = PostgresStore::connect_with(options).await.unwrap_err();
        assert!(
            matches!(
                error,
                StoreError::InvalidOption {
                    option: "schema",
                    ..
                }
            ),
            "{error}"
        );
    }

    /// With migrations skipped, the tables come from the SQL a user ran with their own tool.
    #[tokio::test]
    async fn users_can_apply_the_migration_sql_themselves() {
        let Some(client) = services::raw_client().await else {
            return;
        };
        let schema = services::fresh_schema();
        client
            .batch_execute(&format!("CREATE SCHEMA \"{schema}\""))
            .await
            .unwrap();
        for migration in PostgresStore::migrations(&schema).unwrap() {
            client.batch_execute(&migration.sql).await.unwrap();
        }
        let store = PostgresStore::connect_with(
            PostgresOptions::new(services::database_url())
                .with_schema(schema.clone())
                .with_migrations(false),
        )
        .await
        .unwrap();
        store
            .append("clock-1", ExpectedVersion::NoStream, vec![event(1)])
            .await
            .unwrap();
        client
            .batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
            .await
            .unwrap();
    }

    /// A payload that is not JSON is refused by the `jsonb` column, as a backend error, and
    /// nothing of that append is written.
    #[tokio::test]
    async fn a_payload_that_is_not_json_is_refused_whole() {
        let Some(store) = services::postgres_store(2).await else {
            return;
        };
        let bad = NewEvent::new("Ticked", 1, b"not json".to_vec(), Metadata::default());
        let error = store
            .append("clock-1", ExpectedVersion::Any, vec![event(1), bad])
            .await
            .unwrap_err();
        assert!(matches!(error, StoreError::Backend(_)), "{error}");
        assert_eq!(store.stream_version("clock-1").await.unwrap(), 0);
    }

    /// Events written before migration 0003 kept their correlation and causation ids in the
    /// metadata jsonb only; they still read back with them.
    #[tokio::test]
    async fn ids_of_events_written_before_the_id_columns_still_read_back() {
        let Some(store) = services::postgres_store(2).await else {
            return;
        };
        let Some(client) = services::raw_client().await else {
            return;
        };
        let (correlation, causation) = (annals::Uuid::now_v7(), annals::Uuid::now_v7());
        let legacy = format!(
            r#"{{"correlation_id":"{correlation}","causation_id":"{causation}","extra":{{"user":"ada"}}}}"#
        );
        client
        .execute(
            &format!(
                "INSERT INTO \"{}\".events (stream_id, stream_version, event_id, event_type, schema_version, payload, metadata)
                 VALUES ('legacy-1', 1, $1, 'Ticked', 1, '{{}}', $2::text::jsonb)",
                store.schema()
            ),
            &[&annals::Uuid::now_v7(), &legacy],
        )
        .await
        .unwrap();
        let read = store.read_stream("legacy-1", 1, 1).await.unwrap();
        let metadata = &read[0].metadata;
        assert_eq!(
            (metadata.correlation_id, metadata.causation_id),
            (Some(correlation), Some(causation))
        );
        assert_eq!(metadata.extra["user"], "ada");
    }
}
