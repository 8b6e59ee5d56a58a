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
use crate::store::{Metadata, RecordedEvent, SqlValue, StoreError};

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
/// reader of the log fills one record per row instead of allocating one.
pub(super) fn fill_event(row: &Row, event: &mut RecordedEvent) -> Result<(), StoreError> {
    event.metadata = match row.try_get::<_, Option<JsonbRef<'_>>>(7).map_err(backend)? {
        None => Metadata::default(),
        Some(JsonbRef(json)) => serde_json::from_slice(json).map_err(StoreError::backend)?,
    };
    // Events written before migration 0003 keep their ids in the jsonb only.
    if let Some(id) = row.try_get::<_, Option<Uuid>>(9).map_err(backend)? {
        event.metadata.correlation_id = Some(id);
    }
    if let Some(id) = row.try_get::<_, Option<Uuid>>(10).map_err(backend)? {
        event.metadata.causation_id = Some(id);
    }
    event.position = row.try_get::<_, i64>(0).map_err(backend)? as u64;
    event.stream_id.clear();
    event
        .stream_id
        .push_str(row.try_get::<_, &str>(1).map_err(backend)?);
    event.stream_version = row.try_get::<_, i64>(2).map_err(backend)? as u64;
    event.event_id = row.try_get(3).map_err(backend)?;
    event.event_type.clear();
    event
        .event_type
        .push_str(row.try_get::<_, &str>(4).map_err(backend)?);
    event.schema_version = row.try_get::<_, i32>(5).map_err(backend)? as u32;
    event.payload.clear();
    event
        .payload
        .extend_from_slice(row.try_get::<_, JsonbRef<'_>>(6).map_err(backend)?.0);
    event.recorded_at = row.try_get::<_, Timestamp>(8).map_err(backend)?.0;
    Ok(())
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
