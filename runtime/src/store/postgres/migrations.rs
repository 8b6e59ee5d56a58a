//! The PostgreSQL schema, versioned: applied on connect under an advisory lock (or by the
//! user's own tool), recorded in `{schema}.migrations`.

use super::PostgresStore;
use super::options::validate_schema_name;
use crate::store::StoreError;

/// One versioned migration: a name and the SQL that applies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    /// Unique, sortable name (`0001_events_and_snapshots`).
    pub name: &'static str,
    /// The SQL, with the schema name filled in.
    pub sql: String,
}

/// The migrations of the store, in order; `{schema}` is replaced by the quoted schema name.
/// Append only: never edit a released migration.
pub(super) const MIGRATIONS: &[(&str, &str)] = &[
    (
        "0001_events_and_snapshots",
        r#"
    CREATE TABLE {schema}.events (
        position        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        transaction_id  xid8        NOT NULL DEFAULT pg_current_xact_id(),
        stream_id       text        NOT NULL,
        stream_version  bigint      NOT NULL,
        event_id        uuid        NOT NULL,
        event_type      text        NOT NULL,
        schema_version  integer     NOT NULL,
        payload         jsonb       NOT NULL,
        metadata        jsonb,
        recorded_at     timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT events_stream_version_unique UNIQUE (stream_id, stream_version)
    );
    CREATE INDEX events_visible_order ON {schema}.events (transaction_id, position);
    CREATE TABLE {schema}.snapshots (
        stream_id       text        PRIMARY KEY,
        stream_version  bigint      NOT NULL,
        schema_version  integer     NOT NULL,
        payload         bytea       NOT NULL,
        taken_at        timestamptz NOT NULL
    );
    "#,
    ),
    (
        "0002_projection_checkpoints",
        r#"
    CREATE TABLE {schema}.checkpoints (
        projection  text        PRIMARY KEY,
        position    bigint      NOT NULL,
        updated_at  timestamptz NOT NULL DEFAULT now()
    );
    "#,
    ),
    (
        "0003_metadata_ids_as_columns",
        r#"
    ALTER TABLE {schema}.events ADD COLUMN correlation_id uuid, ADD COLUMN causation_id uuid;
    "#,
    ),
    (
        "0004_live_projection_versions",
        r#"
    CREATE TABLE {schema}.projection_versions (
        projection  text        PRIMARY KEY,
        version     integer     NOT NULL,
        switched_at timestamptz NOT NULL DEFAULT now()
    );
    "#,
    ),
    (
        "0005_unique_event_ids",
        r#"
    CREATE UNIQUE INDEX events_event_id_unique ON {schema}.events (event_id);
    "#,
    ),
    (
        "0006_snapshot_checks",
        // What a load checks a snapshot against: the id of the event at its version, and
        // the shape of the state that wrote it. Snapshots written before have neither and
        // are not used (the next one taken replaces them).
        r#"
    ALTER TABLE {schema}.snapshots ADD COLUMN event_id uuid, ADD COLUMN shape bigint NOT NULL DEFAULT 0;
    "#,
    ),
    (
        "0007_dead_letters",
        // One letter per owner and position (a relay's), or per owner and message id (a
        // consumer's): NULLs are distinct, so each kind is unique on its own key.
        r#"
    CREATE TABLE {schema}.dead_letters (
        id          uuid        PRIMARY KEY,
        owner       text        NOT NULL,
        position    bigint,
        stream_id   text,
        event_id    uuid,
        message_id  uuid,
        subject     text,
        payload     bytea,
        headers     jsonb       NOT NULL,
        error       text        NOT NULL,
        parked      boolean     NOT NULL,
        recorded_at timestamptz NOT NULL,
        UNIQUE (owner, position),
        UNIQUE (owner, message_id)
    );
    "#,
    ),
    (
        "0008_inbox",
        r#"
    CREATE TABLE {schema}.inbox (
        consumer    text        NOT NULL,
        message_id  uuid        NOT NULL,
        handled_at  timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (consumer, message_id)
    );
    "#,
    ),
    (
        "0009_open_sagas",
        r#"
    CREATE TABLE {schema}.open_sagas (
        saga        text        NOT NULL,
        instance    text        NOT NULL,
        wake_at     timestamptz,
        stuck       text,
        updated_at  timestamptz NOT NULL,
        PRIMARY KEY (saga, instance)
    );
    CREATE INDEX ON {schema}.open_sagas (saga, wake_at);
    "#,
    ),
];

impl PostgresStore {
    /// The migrations for `schema`, in order, for users who apply them with their own tool.
    /// Each must run once; [`PostgresStore::migrate`] records the applied ones in
    /// `{schema}.migrations`.
    pub fn migrations(schema: &str) -> Result<Vec<Migration>, StoreError> {
        validate_schema_name(schema)?;
        Ok(MIGRATIONS
            .iter()
            .map(|(name, sql)| Migration {
                name,
                sql: sql.replace("{schema}", &format!("\"{schema}\"")),
            })
            .collect())
    }

    /// Applies the migrations not yet applied, under an advisory lock so concurrent starts
    /// do not race.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(StoreError::backend)?;
        let s = format!("\"{}\"", self.schema);
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtext('annals.migrate:' || $1::text))",
            &[&&*self.schema],
        )
        .await
        .map_err(StoreError::backend)?;
        tx.batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {s};
             CREATE TABLE IF NOT EXISTS {s}.migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now());"
        ))
        .await
        .map_err(StoreError::backend)?;
        let applied: Vec<String> = tx
            .query(&format!("SELECT name FROM {s}.migrations"), &[])
            .await
            .map_err(StoreError::backend)?
            .iter()
            .map(|row| row.get(0))
            .collect();
        for migration in Self::migrations(&self.schema)? {
            if applied.iter().any(|name| name == migration.name) {
                continue;
            }
            tx.batch_execute(&migration.sql)
                .await
                .map_err(StoreError::backend)?;
            tx.execute(
                &format!("INSERT INTO {s}.migrations (name) VALUES ($1)"),
                &[&migration.name],
            )
            .await
            .map_err(StoreError::backend)?;
        }
        tx.commit().await.map_err(StoreError::backend)
    }
}
