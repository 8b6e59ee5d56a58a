//! Values between Rust and PostgreSQL in the binary format: `jsonb` sent and read as its
//! JSON bytes, `timestamptz` read without calendar arithmetic, rows of the events table, and
//! the parameters of SQL read models.

use std::error::Error as StdError;

use bytes::{BufMut, BytesMut};
use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};
use uuid::Uuid;

use super::error::backend;
use crate::store::columns::{corrupt, unsigned};
use crate::store::{EventRef, Metadata, RecordedEvent, Snapshot, SqlValue, StoreError};

/// `jsonb` in PostgreSQL's binary format: a version byte (1) and the JSON text. Sending the
/// payload's bytes as they are avoids parsing them in Rust.
#[derive(Debug)]
pub(super) struct Jsonb<'a>(pub(super) &'a [u8]);

impl ToSql for Jsonb<'_> {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        out.reserve(1 + self.0.len());
        out.put_u8(1);
        out.put_slice(self.0);
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSONB
    }

    to_sql_checked!();
}

/// A `jsonb` value read in binary format: the JSON text, borrowed from the row.
pub(super) struct JsonbRef<'a>(pub(super) &'a [u8]);

impl<'a> FromSql<'a> for JsonbRef<'a> {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn StdError + Sync + Send>> {
        match raw.split_first() {
            Some((1, json)) => Ok(JsonbRef(json)),
            _ => Err("unsupported jsonb binary format version".into()),
        }
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSONB
    }
}

/// A `timestamptz` read straight from its binary form (microseconds since 2000-01-01 UTC):
/// the same instant as the driver's `DateTime<Utc>`, without its calendar arithmetic, which
/// showed up as a twelfth of a log read's client time.
pub(super) struct Timestamp(pub(super) DateTime<Utc>);

/// 2000-01-01T00:00:00Z, PostgreSQL's epoch, in microseconds since the Unix epoch.
const POSTGRES_EPOCH_MICROS: i64 = 946_684_800_000_000;

impl<'a> FromSql<'a> for Timestamp {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn StdError + Sync + Send>> {
        let micros = i64::from_be_bytes(raw.try_into()?);
        micros
            .checked_add(POSTGRES_EPOCH_MICROS)
            .and_then(DateTime::from_timestamp_micros)
            .map(Timestamp)
            .ok_or_else(|| "timestamptz out of range".into())
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::TIMESTAMPTZ
    }
}

pub(super) fn read_event(row: &Row) -> Result<RecordedEvent, StoreError> {
    let mut event = RecordedEvent::blank();
    fill_event(row, &mut event)?;
    Ok(event)
}

/// Overwrites `event` with the row (a row of `EVENT_COLUMNS`), reusing its buffers: a
/// reader of the log fills one record per row instead of allocating one. A column that does
/// not read (written by hand or by another program) is a [`StoreError::CorruptEvent`]
/// naming the row.
pub(super) fn fill_event(row: &Row, event: &mut RecordedEvent) -> Result<(), StoreError> {
    let position = get::<i64>(row, 0)
        .and_then(unsigned)
        .map_err(|reason| corrupt(None, None, "position", reason))?;
    event.position = position;
    let mut stream_read = false;
    fill_columns(row, event, &mut stream_read).map_err(|(column, reason)| {
        let stream = stream_read.then_some((event.stream_id.as_str(), event.stream_version));
        corrupt(Some(position), stream, column, reason)
    })
}

/// The columns after the position; `stream_read` is set once the stream and version read.
fn fill_columns(
    row: &Row,
    event: &mut RecordedEvent,
    stream_read: &mut bool,
) -> Result<(), (&'static str, String)> {
    fn at(column: &'static str) -> impl FnOnce(String) -> (&'static str, String) {
        move |reason| (column, reason)
    }
    event.stream_id.clear();
    event
        .stream_id
        .push_str(get::<&str>(row, 1).map_err(at("stream_id"))?);
    event.stream_version = get::<i64>(row, 2)
        .and_then(unsigned)
        .map_err(at("stream_version"))?;
    *stream_read = true;
    event.event_id = get(row, 3).map_err(at("event_id"))?;
    event.event_type.clear();
    event
        .event_type
        .push_str(get::<&str>(row, 4).map_err(at("event_type"))?);
    event.schema_version = get::<i32>(row, 5)
        .and_then(schema_version)
        .map_err(at("schema_version"))?;
    event.payload.clear();
    event
        .payload
        .extend_from_slice(get::<JsonbRef<'_>>(row, 6).map_err(at("payload"))?.0);
    // The metadata's JSON holds user key/values only; events written before migration
    // 0003 also keep their ids there.
    event.metadata = match get::<Option<JsonbRef<'_>>>(row, 7).map_err(at("metadata"))? {
        None => Metadata::default(),
        Some(JsonbRef(json)) => serde_json::from_slice(json)
            .map_err(|error| ("metadata", format!("not the metadata's JSON: {error}")))?,
    };
    event.recorded_at = get::<Timestamp>(row, 8).map_err(at("recorded_at"))?.0;
    if let Some(id) = get::<Option<Uuid>>(row, 9).map_err(at("correlation_id"))? {
        event.metadata.correlation_id = Some(id);
    }
    if let Some(id) = get::<Option<Uuid>>(row, 10).map_err(at("causation_id"))? {
        event.metadata.causation_id = Some(id);
    }
    Ok(())
}

/// What loading an aggregate reads of a row of `stream_id` (see `Statements::visit_stream`).
pub(super) fn stream_event<'r>(row: &'r Row, stream_id: &str) -> Result<EventRef<'r>, StoreError> {
    let stream_version = get::<i64>(row, 0)
        .and_then(unsigned)
        .map_err(|reason| corrupt(None, None, "stream_version", reason))?;
    let at =
        |column| move |reason| corrupt(None, Some((stream_id, stream_version)), column, reason);
    Ok(EventRef {
        stream_version,
        event_id: get::<Option<Uuid>>(row, 4).map_err(at("event_id"))?,
        event_type: get(row, 1).map_err(at("event_type"))?,
        schema_version: get::<i32>(row, 2)
            .and_then(schema_version)
            .map_err(at("schema_version"))?,
        payload: get::<JsonbRef<'_>>(row, 3).map_err(at("payload"))?.0,
    })
}

/// A row of `Statements::load_snapshot`, the snapshot of `stream_id`. A column that does
/// not read is a [`StoreError::CorruptSnapshot`].
pub(super) fn read_snapshot(row: &Row, stream_id: &str) -> Result<Snapshot, StoreError> {
    let at = |column| {
        move |reason| StoreError::CorruptSnapshot {
            stream_id: stream_id.to_owned(),
            column,
            reason,
        }
    };
    Ok(Snapshot {
        stream_id: stream_id.to_owned(),
        stream_version: get::<i64>(row, 0)
            .and_then(unsigned)
            .map_err(at("stream_version"))?,
        schema_version: get::<i32>(row, 1)
            .and_then(schema_version)
            .map_err(at("schema_version"))?,
        payload: get::<Vec<u8>>(row, 2).map_err(at("payload"))?,
        taken_at: get(row, 3).map_err(at("taken_at"))?,
        // Written before the column existed: an id no event has, so the load does not use it.
        event_id: get::<Option<Uuid>>(row, 4)
            .map_err(at("event_id"))?
            .unwrap_or_default(),
        // The fingerprint's bits, kept as PostgreSQL's signed bigint.
        shape: get::<i64>(row, 5).map_err(at("shape"))? as u64,
    })
}

/// Column `index` of an event row, or why it does not read.
fn get<'r, T: FromSql<'r>>(row: &'r Row, index: usize) -> Result<T, String> {
    row.try_get(index).map_err(|error| {
        // The driver's message names the column by index; its cause says what is wrong.
        error
            .source()
            .map_or_else(|| error.to_string(), ToString::to_string)
    })
}

/// A stored schema version: a `u32` kept in an `integer` column by its bits (so every
/// value reads).
fn schema_version(version: i32) -> Result<u32, String> {
    Ok(version as u32)
}

impl ToSql for SqlValue {
    /// Binds to whatever type PostgreSQL inferred for the parameter, within reason: an
    /// integer to any integer width (range-checked) or a float, text to text types, `uuid`
    /// and `jsonb`, bytes to `bytea`.
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        let mismatch = |what: &str| -> Box<dyn StdError + Sync + Send> {
            format!("cannot bind {what} to a parameter of type {ty}").into()
        };
        match self {
            SqlValue::Null => Ok(IsNull::Yes),
            SqlValue::Bool(value) if *ty == Type::BOOL => value.to_sql(ty, out),
            SqlValue::Int(value) => match *ty {
                Type::INT2 => i16::try_from(*value)?.to_sql(ty, out),
                Type::INT4 => i32::try_from(*value)?.to_sql(ty, out),
                Type::INT8 => value.to_sql(ty, out),
                Type::FLOAT8 => (*value as f64).to_sql(ty, out),
                Type::FLOAT4 => (*value as f32).to_sql(ty, out),
                _ => Err(mismatch("an integer")),
            },
            SqlValue::Real(value) => match *ty {
                Type::FLOAT8 => value.to_sql(ty, out),
                Type::FLOAT4 => (*value as f32).to_sql(ty, out),
                _ => Err(mismatch("a float")),
            },
            SqlValue::Text(value) => match *ty {
                Type::UUID => value.parse::<Uuid>()?.to_sql(ty, out),
                Type::JSONB => Jsonb(value.as_bytes()).to_sql(ty, out),
                _ if <&str as ToSql>::accepts(ty) => value.as_str().to_sql(ty, out),
                _ => Err(mismatch("text")),
            },
            SqlValue::Bytes(value) if *ty == Type::BYTEA => value.as_slice().to_sql(ty, out),
            SqlValue::Bool(_) => Err(mismatch("a boolean")),
            SqlValue::Bytes(_) => Err(mismatch("bytes")),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// Column `index` of `row` as a read model's reader gets it.
pub(super) fn sql_value(row: &Row, index: usize) -> Result<SqlValue, StoreError> {
    fn get<'a, T: FromSql<'a>>(row: &'a Row, index: usize) -> Result<Option<T>, StoreError> {
        row.try_get::<_, Option<T>>(index).map_err(backend)
    }
    let ty = row.columns()[index].type_().clone();
    let value = match ty {
        Type::BOOL => get::<bool>(row, index)?.map(SqlValue::Bool),
        Type::INT2 => get::<i16>(row, index)?.map(|v| SqlValue::Int(v.into())),
        Type::INT4 => get::<i32>(row, index)?.map(|v| SqlValue::Int(v.into())),
        Type::INT8 => get::<i64>(row, index)?.map(SqlValue::Int),
        Type::FLOAT4 => get::<f32>(row, index)?.map(|v| SqlValue::Real(v.into())),
        Type::FLOAT8 => get::<f64>(row, index)?.map(SqlValue::Real),
        Type::BYTEA => get::<Vec<u8>>(row, index)?.map(SqlValue::Bytes),
        Type::UUID => get::<Uuid>(row, index)?.map(|v| SqlValue::Text(v.to_string())),
        Type::JSONB => get::<JsonbRef<'_>>(row, index)?
            .map(|v| SqlValue::Text(String::from_utf8_lossy(v.0).into_owned())),
        _ if <String as FromSql>::accepts(&ty) => get::<String>(row, index)?.map(SqlValue::Text),
        _ => {
            return Err(StoreError::backend(UnsupportedColumn(
                row.columns()[index].name().to_owned(),
                ty,
            )));
        }
    };
    Ok(value.unwrap_or(SqlValue::Null))
}

/// A column of a type a read model's reader cannot get as a [`SqlValue`].
#[derive(Debug)]
struct UnsupportedColumn(String, Type);

impl std::fmt::Display for UnsupportedColumn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "column `{}` is of type {}, which a query cannot return: cast it (to text, bigint, double precision, boolean or bytea)",
            self.0, self.1
        )
    }
}

impl StdError for UnsupportedColumn {}
