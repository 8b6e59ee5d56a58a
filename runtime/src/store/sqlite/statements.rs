//! The SQL the SQLite store runs, in one place. Parameters are numbered (`?1`, ...).

/// The columns of a whole event, in the order `codec::fill_event` reads them.
macro_rules! event_columns {
    () => {
        "position, stream_id, stream_version, event_id, event_type, schema_version, payload, metadata, recorded_at, correlation_id, causation_id"
    };
}

/// The command path's append: one event at `?2 + 1`, only if the stream is at version `?2`.
pub(super) const APPEND_ONE_AT: &str = "INSERT INTO annals_events (stream_id, stream_version, event_id, event_type, schema_version, payload, metadata, recorded_at, correlation_id, causation_id)
     SELECT ?1, ?2 + 1, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10
     WHERE ?2 = 0 OR EXISTS (SELECT 1 FROM annals_events WHERE stream_id = ?1 AND stream_version = ?2)";

pub(super) const INSERT_EVENT: &str = "INSERT INTO annals_events (stream_id, stream_version, event_id, event_type, schema_version, payload, metadata, recorded_at, correlation_id, causation_id)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";

pub(super) const STREAM_VERSION: &str =
    "SELECT COALESCE(MAX(stream_version), 0) FROM annals_events WHERE stream_id = ?1";

/// The id of the event at a version of a stream.
pub(super) const EVENT_ID_AT: &str =
    "SELECT event_id FROM annals_events WHERE stream_id = ?1 AND stream_version = ?2";

/// An event by id: what the check for a re-sent append reads.
pub(super) const EVENT_BY_ID: &str = "SELECT stream_id, stream_version, position, recorded_at FROM annals_events WHERE event_id = ?1";

pub(super) const HEAD_POSITION: &str = "SELECT COALESCE(MAX(position), 0) FROM annals_events";

pub(super) const READ_STREAM: &str = concat!(
    "SELECT ",
    event_columns!(),
    " FROM annals_events WHERE stream_id = ?1 AND stream_version >= ?2 ORDER BY stream_version LIMIT ?3"
);

/// What loading an aggregate reads of each event (the first one's id apart: `EVENT_ID_AT`).
pub(super) const VISIT_STREAM: &str = "SELECT stream_version, event_type, schema_version, payload
     FROM annals_events WHERE stream_id = ?1 AND stream_version >= ?2
     ORDER BY stream_version LIMIT ?3";

pub(super) const READ_ALL: &str = concat!(
    "SELECT ",
    event_columns!(),
    " FROM annals_events WHERE position > ?1 ORDER BY position LIMIT ?2"
);

/// The rows of a window of positions, whatever their type (a filtered read checks each
/// row's type itself).
pub(super) const READ_WINDOW: &str = concat!(
    "SELECT ",
    event_columns!(),
    " FROM annals_events WHERE position > ?1 AND position <= ?2 ORDER BY position"
);

/// The rows of some types, through the type index. The types travel as one JSON array
/// parameter, so the statement text (and its cache entry) does not depend on how many
/// types a filter names.
pub(super) const READ_BY_TYPE: &str = concat!(
    "SELECT ",
    event_columns!(),
    " FROM annals_events INDEXED BY annals_events_by_type
     WHERE event_type IN (SELECT value FROM json_each(?3)) AND position > ?1
     ORDER BY position LIMIT ?2"
);

pub(super) const COUNT_AFTER: &str = "SELECT count(*) FROM annals_events WHERE position > ?1";

pub(super) const COUNT_AFTER_BY_TYPE: &str = "SELECT count(*) FROM annals_events
     WHERE event_type IN (SELECT value FROM json_each(?2)) AND position > ?1";

pub(super) const LOAD_SNAPSHOT: &str = "SELECT stream_version, schema_version, payload, taken_at, event_id, shape FROM annals_snapshots WHERE stream_id = ?1";

/// Replaces the stored snapshot unless it is of a higher version.
pub(super) const SAVE_SNAPSHOT: &str =
    "INSERT INTO annals_snapshots (stream_id, stream_version, schema_version, payload, taken_at, event_id, shape)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
     ON CONFLICT (stream_id) DO UPDATE SET
        stream_version = excluded.stream_version,
        schema_version = excluded.schema_version,
        payload = excluded.payload,
        taken_at = excluded.taken_at,
        event_id = excluded.event_id,
        shape = excluded.shape
     WHERE excluded.stream_version >= annals_snapshots.stream_version";

pub(super) const CHECKPOINT: &str = "SELECT position FROM annals_checkpoints WHERE projection = ?1";

/// Moves a checkpoint from `?2` to `?3`; changes no row when it is elsewhere.
pub(super) const MOVE_CHECKPOINT: &str = "UPDATE annals_checkpoints SET position = ?3, updated_at = ?4 WHERE projection = ?1 AND position = ?2";

pub(super) const CREATE_CHECKPOINT: &str =
    "INSERT INTO annals_checkpoints (projection, position, updated_at) VALUES (?1, ?2, ?3)";

pub(super) const RESET_CHECKPOINT: &str =
    "INSERT INTO annals_checkpoints (projection, position, updated_at) VALUES (?1, 0, ?2)
     ON CONFLICT (projection) DO UPDATE SET position = 0, updated_at = excluded.updated_at";

pub(super) const LIVE_VERSION: &str =
    "SELECT version FROM annals_projection_versions WHERE projection = ?1";

pub(super) const SET_LIVE_VERSION: &str = "INSERT INTO annals_projection_versions (projection, version, switched_at) VALUES (?1, ?2, ?3)
     ON CONFLICT (projection) DO UPDATE SET version = excluded.version, switched_at = excluded.switched_at";

/// Records a dead letter, unless its owner has one at its position or for its message.
pub(super) const ADD_DEAD_LETTER: &str = "INSERT OR IGNORE INTO annals_dead_letters
     (id, owner, position, stream_id, event_id, message_id, subject, payload, headers, error, parked, recorded_at)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";

/// An owner's dead letters, oldest first (`dead_letters::read_letter` reads the columns).
pub(super) const DEAD_LETTERS: &str = "SELECT id, owner, position, stream_id, event_id, message_id, subject, payload, headers, error, parked, recorded_at
     FROM annals_dead_letters WHERE owner = ?1 ORDER BY position, recorded_at, id";

pub(super) const REMOVE_DEAD_LETTER: &str =
    "DELETE FROM annals_dead_letters WHERE owner = ?1 AND id = ?2";

/// Records a handled message, unless its consumer's inbox holds it.
pub(super) const ADD_TO_INBOX: &str =
    "INSERT OR IGNORE INTO annals_inbox (consumer, message_id, handled_at) VALUES (?1, ?2, ?3)";

pub(super) const INBOX_HOLDS: &str =
    "SELECT 1 FROM annals_inbox WHERE consumer = ?1 AND message_id = ?2";

/// Writes an open saga's row, replacing the one it had.
pub(super) const KEEP_OPEN_SAGA: &str =
    "INSERT INTO annals_open_sagas (saga, instance, wake_at, stuck, updated_at)
     VALUES (?1, ?2, ?3, ?4, ?5)
     ON CONFLICT (saga, instance) DO UPDATE SET wake_at = ?3, stuck = ?4, updated_at = ?5";
pub(super) const FORGET_OPEN_SAGA: &str =
    "DELETE FROM annals_open_sagas WHERE saga = ?1 AND instance = ?2";
/// A saga's open instances (`sagas::read_open` reads the columns).
pub(super) const OPEN_SAGAS: &str = "SELECT saga, instance, wake_at, stuck, updated_at
     FROM annals_open_sagas WHERE saga = ?1 ORDER BY instance";
/// A saga's instances due at `?2`, soonest first.
pub(super) const DUE_SAGAS: &str = "SELECT saga, instance, wake_at, stuck, updated_at
     FROM annals_open_sagas WHERE saga = ?1 AND wake_at <= ?2 ORDER BY wake_at, instance LIMIT ?3";
