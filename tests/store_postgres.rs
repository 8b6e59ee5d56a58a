//! `PostgresStore` against the store conformance suite, plus what is specific to it:
//! migrations, schema names, and the single-statement append.

mod conformance;
mod services;

use annals::store::postgres::{PostgresOptions, PostgresStore};
use annals::{EventStore, ExpectedVersion, Metadata, NewEvent, StoreError};

conformance_suite!(optional services::postgres_store(4));

fn event(n: u64) -> NewEvent {
    NewEvent::new(
        "Ticked",
        1,
        format!(r#"{{"n":{n}}}"#).into_bytes(),
        Metadata::default(),
    )
}

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
        PostgresOptions::new(services::database_url()).schema(store.schema()),
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
            .schema(schema.clone())
            .pool_size(1);
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
    let options =
        PostgresOptions::new(services::database_url()).schema("x\"; DROP SCHEMA public; --");
    let error = PostgresStore::connect_with(options).await.unwrap_err();
    assert!(
        matches!(error, StoreError::InvalidSchemaName { .. }),
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
            .schema(schema.clone())
            .skip_migrations(),
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
