//! The SQLite schema, versioned: applied in order on open, recorded in `annals_migrations`.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::codec::now_micros;
use super::error;
use crate::store::StoreError;

/// The schema, one migration per entry, applied in order on open and recorded in
/// `annals_migrations`. Append only: never edit a released migration.
pub(super) const MIGRATIONS: &[(&str, &str)] = &[
    (
        "0001_events_and_snapshots",
        "CREATE TABLE annals_events (
        position       INTEGER PRIMARY KEY AUTOINCREMENT,
        stream_id      TEXT    NOT NULL,
        stream_version INTEGER NOT NULL,
        event_id       BLOB    NOT NULL,
        event_type     TEXT    NOT NULL,
        schema_version INTEGER NOT NULL,
        payload        BLOB    NOT NULL,
        metadata       TEXT,
        recorded_at    INTEGER NOT NULL,
        UNIQUE (stream_id, stream_version)
    );
    CREATE INDEX annals_events_by_type ON annals_events (event_type, position);
    CREATE TABLE annals_snapshots (
        stream_id      TEXT    PRIMARY KEY,
        stream_version INTEGER NOT NULL,
        schema_version INTEGER NOT NULL,
        payload        BLOB    NOT NULL,
        taken_at       INTEGER NOT NULL
    );",
    ),
    (
        "0002_projection_checkpoints",
        "CREATE TABLE annals_checkpoints (
        projection  TEXT    PRIMARY KEY,
        position    INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL
    );",
    ),
    (
        "0003_metadata_ids_as_columns",
        "ALTER TABLE annals_events ADD COLUMN correlation_id BLOB;
    ALTER TABLE annals_events ADD COLUMN causation_id BLOB;",
    ),
    (
        "0004_live_projection_versions",
        "CREATE TABLE annals_projection_versions (
        projection  TEXT    PRIMARY KEY,
        version     INTEGER NOT NULL,
        switched_at INTEGER NOT NULL
    );",
    ),
    (
        "0005_unique_event_ids",
        "CREATE UNIQUE INDEX annals_events_event_id ON annals_events (event_id);",
    ),
    (
        "0006_snapshot_checks",
        // What a load checks a snapshot against: the id of the event at its version, and
        // the shape of the state that wrote it. Snapshots written before have neither and
        // are not used (the next one taken replaces them).
        "ALTER TABLE annals_snapshots ADD COLUMN event_id BLOB;
         ALTER TABLE annals_snapshots ADD COLUMN shape INTEGER NOT NULL DEFAULT 0;",
    ),
    (
        "0007_dead_letters",
        // One letter per owner and position (a relay's), or per owner and message id (a
        // consumer's): NULLs are distinct, so each kind is unique on its own key.
        "CREATE TABLE annals_dead_letters (
        id          BLOB    PRIMARY KEY,
        owner       TEXT    NOT NULL,
        position    INTEGER,
        stream_id   TEXT,
        event_id    BLOB,
        message_id  BLOB,
        subject     TEXT,
        payload     BLOB,
        headers     TEXT    NOT NULL,
        error       TEXT    NOT NULL,
        parked      INTEGER NOT NULL,
        recorded_at INTEGER NOT NULL,
        UNIQUE (owner, position),
        UNIQUE (owner, message_id)
    );",
    ),
    (
        "0008_inbox",
        "CREATE TABLE annals_inbox (
        consumer    TEXT    NOT NULL,
        message_id  BLOB    NOT NULL,
        handled_at  INTEGER NOT NULL,
        PRIMARY KEY (consumer, message_id)
    );",
    ),
    (
        "0009_open_sagas",
        "CREATE TABLE annals_open_sagas (
        saga        TEXT    NOT NULL,
        instance    TEXT    NOT NULL,
        wake_at     INTEGER,
        stuck       TEXT,
        updated_at  INTEGER NOT NULL,
        PRIMARY KEY (saga, instance)
    );
    CREATE INDEX annals_open_sagas_wake ON annals_open_sagas (saga, wake_at);",
    ),
];

pub(super) fn migrate(connection: &mut Connection) -> Result<(), StoreError> {
    let tx = connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(error::from_sqlite)?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS annals_migrations (
            name       TEXT PRIMARY KEY,
            applied_at INTEGER NOT NULL
        );",
    )
    .map_err(error::from_sqlite)?;
    for (name, sql) in MIGRATIONS {
        let applied: Option<i64> = tx
            .query_row(
                "SELECT 1 FROM annals_migrations WHERE name = ?1",
                [name],
                |row| row.get(0),
            )
            .optional()
            .map_err(error::from_sqlite)?;
        if applied.is_none() {
            tx.execute_batch(sql).map_err(error::from_sqlite)?;
            tx.execute(
                "INSERT INTO annals_migrations (name, applied_at) VALUES (?1, ?2)",
                params![name, now_micros().1],
            )
            .map_err(error::from_sqlite)?;
        }
    }
    tx.commit().map_err(error::from_sqlite)
}
