//! The SQLite log: appends through the writer connection, reads through the readers.

use std::ops::ControlFlow;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use tokio::sync::watch;
use uuid::Uuid;

use super::codec::{
    fill_event, micros_to_time, new_event, now_micros, read_event, row_type, stream_event,
};
use super::error;
use super::{SqliteStore, statements};
use crate::store::columns::{metadata_json, to_i64};
use crate::store::{
    AppendResult, Catalog, EventFilter, EventLocation, EventStore, ExpectedVersion, LogVisitor,
    NewEvent, RecordedEvent, Resent, StoreError, StreamVisitor, check_append, resent,
};

/// The id of the event at `version` of `stream_id`.
fn event_id_at(
    connection: &Connection,
    stream_id: &str,
    version: u64,
) -> Result<Option<Uuid>, StoreError> {
    let id: Option<Vec<u8>> = connection
        .prepare_cached(statements::EVENT_ID_AT)
        .and_then(|mut statement| {
            statement
                .query_row(params![stream_id, to_i64(version)], |row| row.get(0))
                .optional()
        })
        .map_err(error::from_sqlite)?;
    id.map(|bytes| {
        Uuid::from_slice(&bytes).map_err(|_| StoreError::CorruptEvent {
            position: None,
            stream: Some((stream_id.to_owned(), version)),
            column: "event_id",
            reason: format!("{} bytes, not the 16 of a UUID", bytes.len()),
        })
    })
    .transpose()
}

/// A filtered read of the global log first walks `max_count × this` positions in order
/// before it turns to the type index (see [`scan_log`]).
const SCAN_WINDOW_FACTOR: i64 = 4;

pub(super) fn head_position(connection: &Connection) -> Result<u64, StoreError> {
    connection
        .query_row(statements::HEAD_POSITION, [], |row| row.get::<_, i64>(0))
        .map(|p| p as u64)
        .map_err(error::from_sqlite)
}

fn current_version(connection: &Connection, stream_id: &str) -> Result<u64, StoreError> {
    connection
        .prepare_cached(statements::STREAM_VERSION)
        .and_then(|mut statement| statement.query_row([stream_id], |row| row.get::<_, i64>(0)))
        .map(|version| version as u64)
        .map_err(error::from_sqlite)
}

/// An append that could not write (its expectation failed, or an id or version is taken):
/// the first result of the same append when it is a re-sent copy, else the conflict.
fn refused(
    connection: &Connection,
    stream_id: &str,
    expected: ExpectedVersion,
    events: &[NewEvent],
) -> Result<AppendResult, StoreError> {
    let stored = locate(connection, events.iter().map(|event| event.event_id))?;
    match resent(stream_id, expected, events, &stored) {
        Resent::Yes(result) => return Ok(result),
        Resent::Clash(error) => return Err(error),
        Resent::No => {}
    }
    let actual = current_version(connection, stream_id)?;
    Err(StoreError::WrongExpectedVersion {
        stream_id: stream_id.to_owned(),
        expected,
        actual,
    })
}

/// What the log holds of `events`' ids.
fn locate(
    connection: &Connection,
    event_ids: impl IntoIterator<Item = Uuid>,
) -> Result<Vec<EventLocation>, StoreError> {
    let mut statement = connection
        .prepare_cached(statements::EVENT_BY_ID)
        .map_err(error::from_sqlite)?;
    let mut stored = Vec::new();
    for event_id in event_ids {
        let found = statement
            .query_row([event_id.as_bytes()], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, i64>(2)?,
                    row.get::<_, i64>(3)?,
                ))
            })
            .optional()
            .map_err(error::from_sqlite)?;
        if let Some((stream_id, version, position, micros)) = found {
            stored.push(EventLocation {
                event_id,
                stream_id,
                stream_version: version as u64,
                position: position as u64,
                recorded_at: micros_to_time(micros),
            });
        }
    }
    Ok(stored)
}

/// Whether `error` is a unique index refusing a row: a version or an event id taken.
fn is_unique_violation(error: &rusqlite::Error) -> bool {
    matches!(
        error,
        rusqlite::Error::SqliteFailure(failure, _)
            if failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
    )
}

/// The command path's append (one event at a known version) as one statement, atomic on its
/// own: the event goes in at `version + 1` only if the stream is at `version`. A stream
/// behind it inserts nothing (the guard); one ahead of it trips the unique index.
fn append_one_at(
    connection: &Connection,
    stream_id: &str,
    expected: ExpectedVersion,
    version: u64,
    event: &NewEvent,
    metadata: Option<&str>,
) -> Result<AppendResult, StoreError> {
    let (recorded_at, micros) = now_micros();
    let inserted = connection
        .prepare_cached(statements::APPEND_ONE_AT)
        .and_then(|mut insert| {
            insert.execute(params![
                stream_id,
                to_i64(version),
                event.event_id.as_bytes(),
                event.event_type,
                event.schema_version,
                event.payload,
                metadata,
                micros,
                event.metadata.correlation_id.as_ref().map(Uuid::as_bytes),
                event.metadata.causation_id.as_ref().map(Uuid::as_bytes),
            ])
        });
    match inserted {
        Ok(1) => Ok(AppendResult {
            stream_version: version + 1,
            positions: vec![connection.last_insert_rowid() as u64],
            recorded_at,
        }),
        Ok(_) => refused(connection, stream_id, expected, std::slice::from_ref(event)),
        Err(error) if is_unique_violation(&error) => {
            refused(connection, stream_id, expected, std::slice::from_ref(event))
        }
        Err(error) => Err(error::from_sqlite(error)),
    }
}

/// Any other append, in an `IMMEDIATE` transaction: the version is read, checked and the
/// events inserted while no other writer can move it.
fn append_in_transaction(
    connection: &mut Connection,
    stream_id: &str,
    expected: ExpectedVersion,
    events: &[NewEvent],
    metadata: &[Option<String>],
) -> Result<AppendResult, StoreError> {
    let backend = error::from_sqlite;
    let tx = connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(backend)?;
    let current = current_version(&tx, stream_id)?;
    if !expected.accepts(current) {
        return refused(&tx, stream_id, expected, events);
    }
    let (recorded_at, micros) = now_micros();
    let mut positions = Vec::with_capacity(events.len());
    {
        let mut insert = tx
            .prepare_cached(statements::INSERT_EVENT)
            .map_err(backend)?;
        for (offset, (event, metadata)) in events.iter().zip(metadata).enumerate() {
            let inserted = insert.execute(params![
                stream_id,
                to_i64(current + 1 + offset as u64),
                event.event_id.as_bytes(),
                event.event_type,
                event.schema_version,
                event.payload,
                metadata,
                micros,
                event.metadata.correlation_id.as_ref().map(Uuid::as_bytes),
                event.metadata.causation_id.as_ref().map(Uuid::as_bytes),
            ]);
            match inserted {
                Ok(_) => {}
                Err(error) if is_unique_violation(&error) => {
                    drop(insert);
                    // Nothing of this attempt stays: the transaction rolls back when dropped.
                    return refused(&tx, stream_id, expected, events);
                }
                Err(error) => return Err(error::from_sqlite(error)),
            }
            positions.push(tx.last_insert_rowid() as u64);
        }
    }
    tx.commit().map_err(backend)?;
    Ok(AppendResult {
        stream_version: current + events.len() as u64,
        positions,
        recorded_at,
    })
}

/// What [`scan_log`] hands each row to, with its type name.
type RowVisitor<'v> =
    dyn FnMut(&rusqlite::Row<'_>, &str) -> Result<ControlFlow<()>, StoreError> + 'v;

/// Reads the events of the global log after `after_position` that pass `filter` (at most
/// `max_count`), handing each row and its type name to `on_row` until it breaks; returns
/// how many events it handed over. `read_all` and `visit_all` differ only in what they do
/// with a row.
fn scan_log(
    connection: &Connection,
    after_position: u64,
    max_count: usize,
    filter: &EventFilter,
    on_row: &mut RowVisitor<'_>,
) -> Result<usize, StoreError> {
    let backend = error::from_sqlite;
    let types = filter.event_types();
    let mut read = 0;
    // Hands over the rows of one statement that pass the filter; false once `on_row` broke
    // off or `max_count` events were handed over.
    let mut run = |sql: &str, params: &[&dyn rusqlite::ToSql]| -> Result<bool, StoreError> {
        let mut statement = connection.prepare_cached(sql).map_err(backend)?;
        let mut rows = statement.query(params).map_err(backend)?;
        while read < max_count
            && let Some(row) = rows.next().map_err(backend)?
        {
            let Some(event_type) = row_type(row, types)? else {
                continue;
            };
            read += 1;
            if on_row(row, event_type)?.is_break() {
                return Ok(false);
            }
        }
        Ok(read < max_count)
    };
    let after = to_i64(after_position);
    let limit = to_i64(max_count as u64);
    match types {
        _ if max_count == 0 => {}
        Some([]) => {}
        None => {
            run(statements::READ_ALL, params![after, limit])?;
        }
        Some(names) => {
            // SQLite cannot tell how selective the types are, so the plan is chosen here.
            // First a walk of the next rows by position, the type checked here before any
            // other column is read: a filter that matches much of the log fills the batch
            // there, with no sort. Only a sparse filter goes on to the type index, which
            // reaches its few rows without walking the others.
            let window_end = after.saturating_add(limit.saturating_mul(SCAN_WINDOW_FACTOR));
            let more = run(statements::READ_WINDOW, params![after, window_end])?;
            if more {
                let names = serde_json::to_string(names).map_err(StoreError::backend)?;
                run(statements::READ_BY_TYPE, params![window_end, limit, names])?;
            }
        }
    }
    Ok(read)
}

#[async_trait]
impl EventStore for SqliteStore {
    async fn append(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        check_append(stream_id, &events)?;
        let metadata = events
            .iter()
            .map(|e| metadata_json(&e.metadata))
            .collect::<Result<Vec<_>, _>>()?;
        let result = self
            .with_writer(|connection| match (events.as_slice(), expected.exact()) {
                ([event], Some(version)) => append_one_at(
                    connection,
                    stream_id,
                    expected,
                    version,
                    event,
                    metadata[0].as_deref(),
                ),
                _ => append_in_transaction(connection, stream_id, expected, &events, &metadata),
            })
            .await?;
        self.shared.head.advance(result.last_position());
        Ok(result)
    }

    async fn read_stream(
        &self,
        stream_id: &str,
        from_version: u64,
        max_count: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        if max_count == 0 {
            return Ok(Vec::new());
        }
        let backend = error::from_sqlite;
        self.with_reader(|connection| {
            let mut statement = connection
                .prepare_cached(statements::READ_STREAM)
                .map_err(backend)?;
            let mut rows = statement
                .query(params![
                    stream_id,
                    to_i64(from_version),
                    to_i64(max_count as u64)
                ])
                .map_err(backend)?;
            let mut events = Vec::new();
            while let Some(row) = rows.next().map_err(backend)? {
                events.push(read_event(row)?);
            }
            Ok(events)
        })
    }

    async fn visit_stream(
        &self,
        stream_id: &str,
        from_version: u64,
        max_count: usize,
        visitor: &mut StreamVisitor<'_>,
    ) -> Result<usize, StoreError> {
        if max_count == 0 {
            return Ok(0);
        }
        let backend = error::from_sqlite;
        self.with_reader(|connection| {
            let mut statement = connection
                .prepare_cached(statements::VISIT_STREAM)
                .map_err(backend)?;
            let mut rows = statement
                .query(params![
                    stream_id,
                    to_i64(from_version),
                    to_i64(max_count as u64)
                ])
                .map_err(backend)?;
            let mut read = 0;
            while let Some(row) = rows.next().map_err(backend)? {
                read += 1;
                let mut event = stream_event(row, stream_id)?;
                if read == 1 && event.stream_version == from_version {
                    // The first event's id, which a snapshot is checked against, looked up
                    // apart: a column less on every other row.
                    event.event_id = event_id_at(connection, stream_id, from_version)?;
                }
                if visitor(event).is_break() {
                    break;
                }
            }
            Ok(read)
        })
    }

    async fn read_all(
        &self,
        after_position: u64,
        max_count: usize,
        filter: &EventFilter,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.with_reader(|connection| {
            let mut events = Vec::new();
            scan_log(
                connection,
                after_position,
                max_count,
                filter,
                &mut |row, event_type| {
                    events.push(new_event(row, event_type)?);
                    Ok(ControlFlow::Continue(()))
                },
            )?;
            Ok(events)
        })
    }

    /// Fills one record per row, reusing its buffers: no allocation per event.
    async fn visit_all(
        &self,
        after_position: u64,
        max_count: usize,
        filter: &EventFilter,
        visitor: &mut LogVisitor<'_>,
    ) -> Result<usize, StoreError> {
        self.with_reader(|connection| {
            let mut event = RecordedEvent::blank();
            scan_log(
                connection,
                after_position,
                max_count,
                filter,
                &mut |row, event_type| {
                    fill_event(row, event_type, &mut event)?;
                    Ok(visitor(&event))
                },
            )
        })
    }

    async fn count_after(
        &self,
        after_position: u64,
        filter: &EventFilter,
    ) -> Result<u64, StoreError> {
        let after = to_i64(after_position);
        self.with_reader(|connection| {
            let count = match filter.event_types() {
                None => connection
                    .prepare_cached(statements::COUNT_AFTER)
                    .and_then(|mut statement| statement.query_row([after], |row| row.get(0))),
                Some([]) => Ok(0i64),
                Some(types) => {
                    let types = serde_json::to_string(types).map_err(StoreError::backend)?;
                    connection
                        .prepare_cached(statements::COUNT_AFTER_BY_TYPE)
                        .and_then(|mut statement| {
                            statement.query_row(params![after, types], |row| row.get(0))
                        })
                }
            };
            count.map(|count| count as u64).map_err(error::from_sqlite)
        })
    }

    fn subscribe(&self) -> Option<watch::Receiver<u64>> {
        Some(self.subscribe_head())
    }

    async fn stream_version(&self, stream_id: &str) -> Result<u64, StoreError> {
        self.with_reader(|connection| current_version(connection, stream_id))
    }

    async fn head_position(&self) -> Result<u64, StoreError> {
        self.with_reader(head_position)
    }

    async fn locate_events(&self, event_ids: &[Uuid]) -> Result<Vec<EventLocation>, StoreError> {
        self.with_reader(|connection| locate(connection, event_ids.iter().copied()))
    }

    fn catalog(&self) -> &Catalog {
        &self.shared.catalog
    }
}
