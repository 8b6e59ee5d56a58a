//! Values between Rust and SQLite: timestamps, ids, rows of the events table, and the
//! parameters of SQL read models.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::store::columns::{corrupt, unsigned};
use crate::store::{EventRef, Metadata, RecordedEvent, Snapshot, SqlValue, StoreError};

/// `recorded_at` and `taken_at` are microseconds since the Unix epoch.
pub(super) fn micros_to_time(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// `now`, truncated to the microseconds SQLite keeps, so what append returns equals what a
/// read returns.
pub(super) fn now_micros() -> (DateTime<Utc>, i64) {
    let micros = Utc::now().timestamp_micros();
    (micros_to_time(micros), micros)
}

/// The type name of a row of the event columns (see `statements`) if `types` (a filter's
/// names; `None`: every type) takes it. A name that equals one of the filter's is taken from
/// the filter: compared as bytes, it needs no UTF-8 check of its own.
pub(super) fn row_type<'r>(
    row: &'r rusqlite::Row<'_>,
    types: Option<&'r [String]>,
) -> Result<Option<&'r str>, StoreError> {
    let unreadable = |reason: String| corrupt(row_position(row), None, "event_type", reason);
    let Some(types) = types else {
        return text(row, 4).map(Some).map_err(unreadable);
    };
    let name = bytes(row, 4).map_err(unreadable)?;
    Ok(types
        .iter()
        .find(|wanted| wanted.as_bytes() == name)
        .map(String::as_str))
}

/// A record of a row of the event columns (see `statements`).
pub(super) fn read_event(row: &rusqlite::Row<'_>) -> Result<RecordedEvent, StoreError> {
    let event_type =
        text(row, 4).map_err(|reason| corrupt(row_position(row), None, "event_type", reason))?;
    new_event(row, event_type)
}

/// A record of the row, its type name already read (see [`row_type`]).
pub(super) fn new_event(
    row: &rusqlite::Row<'_>,
    event_type: &str,
) -> Result<RecordedEvent, StoreError> {
    let mut event = RecordedEvent::blank();
    fill_event(row, event_type, &mut event)?;
    Ok(event)
}

/// Overwrites `event` with the row (a row of the event columns (see `statements`) of type
/// `event_type`), reusing its buffers: a reader of the log fills one record per row instead
/// of allocating one. A column that does not read (written by hand or by another program)
/// is a [`StoreError::CorruptEvent`] naming the row.
pub(super) fn fill_event(
    row: &rusqlite::Row<'_>,
    event_type: &str,
    event: &mut RecordedEvent,
) -> Result<(), StoreError> {
    let position = integer(row, 0)
        .and_then(unsigned)
        .map_err(|reason| corrupt(None, None, "position", reason))?;
    event.position = position;
    let mut stream_read = false;
    fill_columns(row, event_type, event, &mut stream_read).map_err(|(column, reason)| {
        let stream = stream_read.then_some((event.stream_id.as_str(), event.stream_version));
        corrupt(Some(position), stream, column, reason)
    })
}

/// The columns after the position; `stream_read` is set once the stream and version read.
fn fill_columns(
    row: &rusqlite::Row<'_>,
    event_type: &str,
    event: &mut RecordedEvent,
    stream_read: &mut bool,
) -> Result<(), (&'static str, String)> {
    fn at(column: &'static str) -> impl FnOnce(String) -> (&'static str, String) {
        move |reason| (column, reason)
    }
    event.stream_id.clear();
    event
        .stream_id
        .push_str(text(row, 1).map_err(at("stream_id"))?);
    event.stream_version = integer(row, 2)
        .and_then(unsigned)
        .map_err(at("stream_version"))?;
    *stream_read = true;
    event.event_id = uuid(row, 3)
        .and_then(|id| id.ok_or_else(|| "NULL".to_owned()))
        .map_err(at("event_id"))?;
    event.event_type.clear();
    event.event_type.push_str(event_type);
    event.schema_version = integer(row, 5)
        .and_then(schema_version)
        .map_err(at("schema_version"))?;
    event.payload.clear();
    // JSON kept as a BLOB by this store, or as TEXT by another program: the same bytes.
    event
        .payload
        .extend_from_slice(bytes(row, 6).map_err(at("payload"))?);
    // The metadata's JSON holds user key/values only; events written before migration
    // 0003 also keep their ids there.
    event.metadata = match nullable_bytes(row, 7).map_err(at("metadata"))? {
        None => Metadata::default(),
        Some(json) => serde_json::from_slice(json)
            .map_err(|error| ("metadata", format!("not the metadata's JSON: {error}")))?,
    };
    event.recorded_at = micros_to_time(integer(row, 8).map_err(at("recorded_at"))?);
    if let Some(id) = uuid(row, 9).map_err(at("correlation_id"))? {
        event.metadata.correlation_id = Some(id);
    }
    if let Some(id) = uuid(row, 10).map_err(at("causation_id"))? {
        event.metadata.causation_id = Some(id);
    }
    Ok(())
}

/// What loading an aggregate reads of a row of `stream_id` (see `statements::VISIT_STREAM`).
pub(super) fn stream_event<'r>(
    row: &'r rusqlite::Row<'_>,
    stream_id: &str,
) -> Result<EventRef<'r>, StoreError> {
    let stream_version = integer(row, 0)
        .and_then(unsigned)
        .map_err(|reason| corrupt(None, None, "stream_version", reason))?;
    let at =
        |column| move |reason| corrupt(None, Some((stream_id, stream_version)), column, reason);
    Ok(EventRef {
        stream_version,
        event_id: None,
        event_type: text(row, 1).map_err(at("event_type"))?,
        schema_version: integer(row, 2)
            .and_then(schema_version)
            .map_err(at("schema_version"))?,
        // JSON kept as a BLOB by this store, or as TEXT by another program: the same bytes.
        payload: bytes(row, 3).map_err(at("payload"))?,
    })
}

/// A row of `statements::LOAD_SNAPSHOT`, the snapshot of `stream_id`. A column that does
/// not read is a [`StoreError::CorruptSnapshot`].
pub(super) fn read_snapshot(
    row: &rusqlite::Row<'_>,
    stream_id: &str,
) -> Result<Snapshot, StoreError> {
    let at = |column| {
        move |reason| StoreError::CorruptSnapshot {
            stream_id: stream_id.to_owned(),
            column,
            reason,
        }
    };
    Ok(Snapshot {
        stream_id: stream_id.to_owned(),
        stream_version: integer(row, 0)
            .and_then(unsigned)
            .map_err(at("stream_version"))?,
        schema_version: integer(row, 1)
            .and_then(schema_version)
            .map_err(at("schema_version"))?,
        payload: bytes(row, 2).map_err(at("payload"))?.to_vec(),
        taken_at: micros_to_time(integer(row, 3).map_err(at("taken_at"))?),
        // Written before the column existed: an id no event has, so the load does not use it.
        event_id: uuid(row, 4).map_err(at("event_id"))?.unwrap_or_default(),
        // The fingerprint's bits, kept as SQLite's signed integer.
        shape: integer(row, 5).map_err(at("shape"))? as u64,
    })
}

/// The row's position, if it reads: what names a row whose other columns do not.
fn row_position(row: &rusqlite::Row<'_>) -> Option<u64> {
    integer(row, 0)
        .ok()
        .and_then(|position| unsigned(position).ok())
}

/// A stored schema version: a `u32`.
#[inline]
fn schema_version(version: i64) -> Result<u32, String> {
    u32::try_from(version).map_err(|_| format!("{version} is out of range"))
}

/// Column `index` as an integer.
#[inline]
fn integer(row: &rusqlite::Row<'_>, index: usize) -> Result<i64, String> {
    value(row, index)?
        .as_i64()
        .map_err(|error| error.to_string())
}

/// Column `index` as text, borrowed from the row.
#[inline]
fn text<'r>(row: &'r rusqlite::Row<'_>, index: usize) -> Result<&'r str, String> {
    value(row, index)?
        .as_str()
        .map_err(|error| error.to_string())
}

/// Column `index` as bytes (a BLOB, or TEXT), borrowed from the row.
#[inline]
fn bytes<'r>(row: &'r rusqlite::Row<'_>, index: usize) -> Result<&'r [u8], String> {
    value(row, index)?
        .as_bytes()
        .map_err(|error| error.to_string())
}

/// Column `index` as bytes (a BLOB, or TEXT), or `None` for NULL.
#[inline]
fn nullable_bytes<'r>(
    row: &'r rusqlite::Row<'_>,
    index: usize,
) -> Result<Option<&'r [u8]>, String> {
    value(row, index)?
        .as_bytes_or_null()
        .map_err(|error| error.to_string())
}

/// Column `index` as a UUID kept in 16 bytes, or `None` for NULL.
#[inline]
fn uuid(row: &rusqlite::Row<'_>, index: usize) -> Result<Option<Uuid>, String> {
    match value(row, index)?
        .as_blob_or_null()
        .map_err(|error| error.to_string())?
    {
        None => Ok(None),
        Some(bytes) => Uuid::from_slice(bytes)
            .map(Some)
            .map_err(|_| format!("{} bytes, not the 16 of a UUID", bytes.len())),
    }
}

#[inline]
fn value<'r>(
    row: &'r rusqlite::Row<'_>,
    index: usize,
) -> Result<rusqlite::types::ValueRef<'r>, String> {
    row.get_ref(index).map_err(|error| error.to_string())
}

impl rusqlite::ToSql for SqlValue {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(match self {
            SqlValue::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            SqlValue::Bool(value) => ToSqlOutput::Borrowed(ValueRef::Integer(i64::from(*value))),
            SqlValue::Int(value) => ToSqlOutput::Borrowed(ValueRef::Integer(*value)),
            SqlValue::Real(value) => ToSqlOutput::Borrowed(ValueRef::Real(*value)),
            SqlValue::Text(value) => ToSqlOutput::Borrowed(ValueRef::Text(value.as_bytes())),
            SqlValue::Bytes(value) => ToSqlOutput::Borrowed(ValueRef::Blob(value)),
        })
    }
}

/// A column's value as a read model's reader gets it.
pub(super) fn sql_value(value: rusqlite::types::ValueRef<'_>) -> SqlValue {
    use rusqlite::types::ValueRef;
    match value {
        ValueRef::Null => SqlValue::Null,
        ValueRef::Integer(value) => SqlValue::Int(value),
        ValueRef::Real(value) => SqlValue::Real(value),
        ValueRef::Text(text) => SqlValue::Text(String::from_utf8_lossy(text).into_owned()),
        ValueRef::Blob(bytes) => SqlValue::Bytes(bytes.to_vec()),
    }
}

/// `$1`, `$2`, ... → `?1`, `?2`, ... outside string literals and quoted identifiers: SQL
/// read models write PostgreSQL's placeholders on both databases.
pub(super) fn numbered_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quote: Option<char> = None;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                out.push(c);
                if c == q {
                    quote = None;
                }
            }
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                out.push(c);
            }
            None if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) => out.push('?'),
            None => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::numbered_placeholders;

    #[test]
    fn placeholders_are_rewritten_outside_quotes_only() {
        assert_eq!(
            numbered_placeholders("SELECT $1, '$2', \"$3\", $10 WHERE a = 'it''s $4'"),
            "SELECT ?1, '$2', \"$3\", ?10 WHERE a = 'it''s $4'"
        );
    }
}
