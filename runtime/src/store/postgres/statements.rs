//! The SQL the PostgreSQL store runs, with its schema filled in once per store.

/// The statements, with the schema filled in once.
pub(super) struct Sql {
    pub(super) append: String,
    pub(super) append_one_at: String,
    pub(super) stream_version: String,
    pub(super) read_stream: String,
    pub(super) visit_stream: String,
    pub(super) read_all: String,
    pub(super) read_all_filtered: String,
    pub(super) count_after: String,
    pub(super) count_after_filtered: String,
    pub(super) head_position: String,
    /// The committed events readers cannot see yet, and the backend whose open
    /// transaction holds them back.
    pub(super) hidden_appends: String,
    pub(super) load_snapshot: String,
    pub(super) save_snapshot: String,
    /// The events with the given ids: what the check for a re-sent append reads.
    pub(super) events_by_id: String,
    pub(super) checkpoint: String,
    /// Moves a checkpoint from `$2` to `$3`; changes no row when it is elsewhere.
    pub(super) move_checkpoint: String,
    pub(super) create_checkpoint: String,
    pub(super) reset_checkpoint: String,
    /// Serialises read models' setup and reset in the schema `$1`, to the transaction's end.
    pub(super) lock_read_models: String,
    /// Makes sure a projection has a row of live versions (-1: none yet), so the next
    /// statement can lock it.
    pub(super) claim_live_version: String,
    pub(super) lock_live_version: String,
    pub(super) set_live_version: String,
    /// Records a dead letter, unless its owner has one at its position or for its message.
    pub(super) add_dead_letter: String,
    /// An owner's dead letters, oldest first (`dead_letters::read_letter` reads the columns).
    pub(super) dead_letters: String,
    pub(super) remove_dead_letter: String,
    /// Records a handled message, unless its consumer's inbox holds it (no row back then).
    pub(super) add_to_inbox: String,
    pub(super) inbox_holds: String,
    /// Writes an open saga's row, replacing the one it had.
    pub(super) keep_open_saga: String,
    pub(super) forget_open_saga: String,
    /// A saga's open instances (`sagas::read_open` reads the columns).
    pub(super) open_sagas: String,
    /// A saga's instances due at `$2`, soonest first.
    pub(super) due_sagas: String,
}

const EVENT_COLUMNS: &str = "position, stream_id, stream_version, event_id, event_type, schema_version, payload, metadata, recorded_at, correlation_id, causation_id";

impl Sql {
    pub(super) fn new(schema: &str) -> Sql {
        let s = format!("\"{schema}\"");
        // The events after position $1 in the readers' order, as far as they are visible.
        let visible_after = |columns: &str| {
            format!(
                "WITH after AS (
                    SELECT transaction_id FROM {s}.events WHERE position <= $1 ORDER BY position DESC LIMIT 1
                 )
                 SELECT {columns} FROM {s}.events
                 WHERE (transaction_id, position) > (COALESCE((SELECT transaction_id FROM after), '0'::xid8), $1)
                   AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())"
            )
        };
        Sql {
            append: format!(
                "WITH current AS (
                    SELECT COALESCE(MAX(stream_version), 0) AS version FROM {s}.events WHERE stream_id = $1
                 ), inserted AS (
                    INSERT INTO {s}.events (stream_id, stream_version, event_id, event_type, schema_version, payload, metadata, correlation_id, causation_id)
                    SELECT $1, current.version + e.ord, e.event_id, e.event_type, e.schema_version, e.payload, e.metadata, e.correlation_id, e.causation_id
                    FROM current,
                         unnest($2::uuid[], $3::text[], $4::int4[], $5::jsonb[], $6::jsonb[], $9::uuid[], $10::uuid[])
                             WITH ORDINALITY AS e(event_id, event_type, schema_version, payload, metadata, correlation_id, causation_id, ord)
                    WHERE CASE $7::int4
                            WHEN 0 THEN true
                            WHEN 1 THEN current.version = 0
                            WHEN 2 THEN current.version > 0
                            ELSE current.version = $8::int8
                          END
                    ORDER BY e.ord
                    RETURNING position, stream_version, recorded_at
                 )
                 SELECT current.version, inserted.position, inserted.stream_version, inserted.recorded_at
                 FROM current LEFT JOIN inserted ON true
                 ORDER BY inserted.position"
            ),
            append_one_at: format!(
                "INSERT INTO {s}.events (stream_id, stream_version, event_id, event_type, schema_version, payload, metadata, correlation_id, causation_id)
                 SELECT $1::text, $2::int8 + 1, $3::uuid, $4::text, $5::int4, $6::jsonb, $7::jsonb, $8::uuid, $9::uuid
                 WHERE $2::int8 = 0
                    OR EXISTS (SELECT 1 FROM {s}.events WHERE stream_id = $1::text AND stream_version = $2::int8)
                 RETURNING position, recorded_at"
            ),
            stream_version: format!("SELECT COALESCE(MAX(stream_version), 0) FROM {s}.events WHERE stream_id = $1"),
            read_stream: format!(
                "SELECT {EVENT_COLUMNS} FROM {s}.events
                 WHERE stream_id = $1 AND stream_version >= $2 ORDER BY stream_version LIMIT $3"
            ),
            visit_stream: format!(
                "SELECT stream_version, event_type, schema_version, payload,
                        CASE WHEN stream_version = $2 THEN event_id END FROM {s}.events
                 WHERE stream_id = $1 AND stream_version >= $2 ORDER BY stream_version LIMIT $3"
            ),
            read_all: format!(
                "{} ORDER BY transaction_id, position LIMIT $2",
                visible_after(EVENT_COLUMNS)
            ),
            read_all_filtered: format!(
                "{} AND event_type = ANY($3::text[]) ORDER BY transaction_id, position LIMIT $2",
                visible_after(EVENT_COLUMNS)
            ),
            count_after: visible_after("count(*)"),
            count_after_filtered: format!(
                "{} AND event_type = ANY($2::text[])",
                visible_after("count(*)")
            ),
            head_position: format!("SELECT COALESCE(MAX(position), 0) FROM {s}.events"),
            hidden_appends: format!(
                "WITH horizon AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin),
                 hidden AS (
                    SELECT count(*) AS events FROM {s}.events, horizon
                    WHERE transaction_id >= horizon.xmin
                 )
                 SELECT hidden.events, a.pid, a.usename::text, a.application_name, a.state,
                        left(a.query, 200),
                        EXTRACT(EPOCH FROM (now() - a.xact_start))::float8
                 FROM hidden CROSS JOIN horizon
                 LEFT JOIN pg_stat_activity a
                   ON a.backend_xid IS NOT NULL
                  AND a.backend_xid::text::bigint = horizon.xmin::text::bigint % 4294967296"
            ),
            load_snapshot: format!(
                "SELECT stream_version, schema_version, payload, taken_at, event_id, shape FROM {s}.snapshots WHERE stream_id = $1"
            ),
            save_snapshot: format!(
                "INSERT INTO {s}.snapshots (stream_id, stream_version, schema_version, payload, taken_at, event_id, shape)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (stream_id) DO UPDATE SET
                    stream_version = excluded.stream_version,
                    schema_version = excluded.schema_version,
                    payload = excluded.payload,
                    taken_at = excluded.taken_at,
                    event_id = excluded.event_id,
                    shape = excluded.shape
                 WHERE excluded.stream_version >= {s}.snapshots.stream_version"
            ),
            events_by_id: format!(
                "SELECT event_id, stream_id, stream_version, position, recorded_at FROM {s}.events WHERE event_id = ANY($1)"
            ),
            checkpoint: format!("SELECT position FROM {s}.checkpoints WHERE projection = $1"),
            move_checkpoint: format!(
                "UPDATE {s}.checkpoints SET position = $3, updated_at = now() WHERE projection = $1 AND position = $2"
            ),
            create_checkpoint: format!(
                "INSERT INTO {s}.checkpoints (projection, position) VALUES ($1, $2) ON CONFLICT DO NOTHING"
            ),
            lock_read_models:
                "SELECT pg_advisory_xact_lock(hashtext('annals.read_models:' || $1::text))"
                    .to_owned(),
            reset_checkpoint: format!(
                "INSERT INTO {s}.checkpoints (projection, position) VALUES ($1, 0)
                 ON CONFLICT (projection) DO UPDATE SET position = 0, updated_at = now()"
            ),
            claim_live_version: format!(
                "INSERT INTO {s}.projection_versions (projection, version) VALUES ($1, -1) ON CONFLICT DO NOTHING"
            ),
            lock_live_version: format!(
                "SELECT version FROM {s}.projection_versions WHERE projection = $1 FOR UPDATE"
            ),
            set_live_version: format!(
                "UPDATE {s}.projection_versions SET version = $2, switched_at = now() WHERE projection = $1"
            ),
            add_dead_letter: format!(
                "INSERT INTO {s}.dead_letters (id, owner, position, stream_id, event_id, message_id, subject, payload, headers, error, parked, recorded_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::text::jsonb, $10, $11, $12)
                 ON CONFLICT DO NOTHING RETURNING id"
            ),
            dead_letters: format!(
                "SELECT id, owner, position, stream_id, event_id, message_id, subject, payload, headers::text, error, parked, recorded_at
                 FROM {s}.dead_letters WHERE owner = $1 ORDER BY position, recorded_at, id"
            ),
            remove_dead_letter: format!(
                "DELETE FROM {s}.dead_letters WHERE owner = $1 AND id = $2 RETURNING id"
            ),
            add_to_inbox: format!(
                "INSERT INTO {s}.inbox (consumer, message_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1"
            ),
            inbox_holds: format!("SELECT 1 FROM {s}.inbox WHERE consumer = $1 AND message_id = $2"),
            keep_open_saga: format!(
                "INSERT INTO {s}.open_sagas (saga, instance, wake_at, stuck, updated_at) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (saga, instance) DO UPDATE SET wake_at = $3, stuck = $4, updated_at = $5"
            ),
            forget_open_saga: format!(
                "DELETE FROM {s}.open_sagas WHERE saga = $1 AND instance = $2"
            ),
            open_sagas: format!(
                "SELECT saga, instance, wake_at, stuck, updated_at FROM {s}.open_sagas WHERE saga = $1 ORDER BY instance"
            ),
            due_sagas: format!(
                "SELECT saga, instance, wake_at, stuck, updated_at FROM {s}.open_sagas
                 WHERE saga = $1 AND wake_at <= $2 ORDER BY wake_at, instance LIMIT $3"
            ),
        }
    }
}
