//! Values between Rust and SQLite: timestamps, ids, rows of the events table, and the
//! parameters of SQL read models.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::store::{Metadata, RecordedEvent, SqlValue, StoreError};

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

pub(super) fn conversion(error: rusqlite::types::FromSqlError) -> StoreError {
    StoreError::backend(error)
}

/// Column `index` as text, borrowed from the row.
pub(super) fn text<'r>(row: &'r rusqlite::Row<'_>, index: usize) -> Result<&'r str, StoreError> {
    row.get_ref(index)
        .map_err(StoreError::backend)?
        .as_str()
        .map_err(conversion)
}

/// Column `index` as a UUID kept in 16 bytes, or `None` for NULL.
pub(super) fn uuid(row: &rusqlite::Row<'_>, index: usize) -> Result<Option<Uuid>, StoreError> {
    match row
        .get_ref(index)
        .map_err(StoreError::backend)?
        .as_blob_or_null()
        .map_err(conversion)?
    {
        None => Ok(None),
        Some(bytes) => Uuid::from_slice(bytes)
            .map(Some)
            .map_err(StoreError::backend),
    }
}

/// The type name of a row of the event columns (see `statements`) if `types` (a filter's names; `None`: every
/// type) takes it. A name that equals one of the filter's is taken from the filter: compared
/// as bytes, it needs no UTF-8 check of its own.
pub(super) fn row_type<'r>(
    row: &'r rusqlite::Row<'_>,
    types: Option<&'r [String]>,
) -> Result<Option<&'r str>, StoreError> {
    let Some(types) = types else {
        return text(row, 4).map(Some);
    };
    let name = row
        .get_ref(4)
        .map_err(StoreError::backend)?
        .as_bytes()
        .map_err(conversion)?;
    Ok(types
        .iter()
        .find(|wanted| wanted.as_bytes() == name)
        .map(String::as_str))
}

/// A record of a row of the event columns (see `statements`).
pub(super) fn read_event(row: &rusqlite::Row<'_>) -> Result<RecordedEvent, StoreError> {
    let event_type = text(row, 4)?;
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

/// Overwrites `event` with the row (a row of the event columns (see `statements`) of type `event_type`),
/// reusing its buffers: a reader of the log fills one record per row instead of allocating
/// one.
pub(super) fn fill_event(
    row: &rusqlite::Row<'_>,
    event_type: &str,
    event: &mut RecordedEvent,
) -> Result<(), StoreError> {
    let backend = StoreError::backend;
    event.position = row.get::<_, i64>(0).map_err(backend)? as u64;
    event.stream_id.clear();
    event.stream_id.push_str(text(row, 1)?);
    event.stream_version = row.get::<_, i64>(2).map_err(backend)? as u64;
    event.event_id = uuid(row, 3)?.unwrap_or_default();
    event.event_type.clear();
    event.event_type.push_str(event_type);
    event.schema_version = row.get::<_, i64>(5).map_err(backend)? as u32;
    event.payload.clear();
    event.payload.extend_from_slice(
        row.get_ref(6)
            .map_err(backend)?
            .as_bytes()
            .map_err(conversion)?,
    );
    // The metadata's JSON holds user key/values only; events written before migration
    // 0003 also keep their ids there.
    event.metadata = match row
        .get_ref(7)
        .map_err(backend)?
        .as_str_or_null()
        .map_err(conversion)?
    {
        None => Metadata::default(),
        Some(json) => serde_json::from_str(json).map_err(StoreError::backend)?,
    };
    event.recorded_at = micros_to_time(row.get(8).map_err(backend)?);
    if let Some(id) = uuid(row, 9)? {
        event.metadata.correlation_id = Some(id);
    }
    if let Some(id) = uuid(row, 10)? {
        event.metadata.causation_id = Some(id);
    }
    Ok(())
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
