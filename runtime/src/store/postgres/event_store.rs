//! The PostgreSQL log.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use super::PostgresStore;
use super::codec::{Jsonb, fill_event, read_event, stream_event};
use super::error::{backend, failed, failed_append, is_refusal, is_version_race};
use crate::store::columns::{metadata_json, to_i64};
use crate::store::{
    AppendResult, Catalog, EventFilter, EventLocation, EventStore, ExpectedVersion, HiddenAppends,
    LogVisitor, NewEvent, RecordedEvent, Resent, StoreError, StreamVisitor, check_append, resent,
};

/// What one run of an append's statement did.
enum Attempt {
    Written(AppendResult),
    /// Nothing was written: the expectation failed, or a version or an event id is taken.
    Refused,
}

impl PostgresStore {
    /// The command path's append (one event at a known version) as a plain guarded
    /// INSERT, lighter for the server than the general statement: the event goes in at
    /// `version + 1` only if the stream is at `version`. A stream behind it inserts nothing
    /// (the guard); one ahead of it trips the unique index.
    async fn append_one_at(
        &self,
        stream_id: &str,
        version: u64,
        event: &NewEvent,
    ) -> Result<Attempt, StoreError> {
        if version >= i64::MAX as u64 {
            // No stream gets there; `$2 + 1` would overflow the server's bigint.
            return Ok(Attempt::Refused);
        }
        let metadata = metadata_json(&event.metadata)?;
        let client = self.client().await?;
        let statement = match client.prepare_cached(&self.sql.append_one_at).await {
            Ok(statement) => statement,
            Err(error) => return Err(failed(client, error)),
        };
        let result = client
            .query(
                &statement,
                &[
                    &stream_id,
                    &to_i64(version),
                    &event.event_id,
                    &event.event_type,
                    &(event.schema_version as i32),
                    &Jsonb(&event.payload),
                    &metadata.as_deref().map(|json| Jsonb(json.as_bytes())),
                    &event.metadata.correlation_id,
                    &event.metadata.causation_id,
                ],
            )
            .await;
        let rows = match result {
            Ok(rows) => rows,
            Err(error) if is_refusal(&error) => return Ok(Attempt::Refused),
            Err(error) => {
                return Err(failed_append(
                    client,
                    error,
                    stream_id,
                    std::slice::from_ref(event),
                ));
            }
        };
        let Some(row) = rows.first() else {
            return Ok(Attempt::Refused);
        };
        Ok(Attempt::Written(AppendResult {
            stream_version: version + 1,
            positions: vec![row.try_get::<_, i64>(0).map_err(backend)? as u64],
            recorded_at: row.try_get(1).map_err(backend)?,
        }))
    }

    /// Any other append, as one statement: it reads the stream's version, checks the
    /// expectation and inserts every event from arrays.
    async fn append_many(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: &[NewEvent],
    ) -> Result<Attempt, StoreError> {
        let ids: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
        let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
        let versions: Vec<i32> = events.iter().map(|e| e.schema_version as i32).collect();
        let payloads: Vec<Jsonb<'_>> = events.iter().map(|e| Jsonb(&e.payload)).collect();
        let metadata = events
            .iter()
            .map(|e| metadata_json(&e.metadata))
            .collect::<Result<Vec<_>, _>>()?;
        let metadata: Vec<Option<Jsonb<'_>>> = metadata
            .iter()
            .map(|m| m.as_deref().map(|json| Jsonb(json.as_bytes())))
            .collect();
        let correlations: Vec<Option<Uuid>> =
            events.iter().map(|e| e.metadata.correlation_id).collect();
        let causations: Vec<Option<Uuid>> =
            events.iter().map(|e| e.metadata.causation_id).collect();
        let (kind, exact): (i32, i64) = match expected {
            ExpectedVersion::Any => (0, 0),
            ExpectedVersion::NoStream => (1, 0),
            ExpectedVersion::StreamExists => (2, 0),
            ExpectedVersion::Exact(version) => (3, to_i64(version)),
        };
        let client = self.client().await?;
        let statement = match client.prepare_cached(&self.sql.append).await {
            Ok(statement) => statement,
            Err(error) => return Err(failed(client, error)),
        };
        let mut attempt = 0;
        let rows = loop {
            let result = client
                .query(
                    &statement,
                    &[
                        &stream_id,
                        &ids,
                        &types,
                        &versions,
                        &payloads,
                        &metadata,
                        &kind,
                        &exact,
                        &correlations,
                        &causations,
                    ],
                )
                .await;
            match result {
                Ok(rows) => break rows,
                // A concurrent writer took the version computed: an expectation that still
                // holds (`Any`, `StreamExists`) tries again at the new version.
                Err(error) if is_version_race(&error) => {
                    let holds = matches!(
                        expected,
                        ExpectedVersion::Any | ExpectedVersion::StreamExists
                    );
                    if holds && attempt < VERSION_RACE_RETRIES {
                        attempt += 1;
                        continue;
                    }
                    return Ok(Attempt::Refused);
                }
                Err(error) if is_refusal(&error) => return Ok(Attempt::Refused),
                Err(error) => return Err(failed_append(client, error, stream_id, events)),
            }
        };
        let mut positions = Vec::with_capacity(rows.len());
        let mut stream_version = 0;
        let mut recorded_at: Option<DateTime<Utc>> = None;
        for row in &rows {
            // The expectation failed: one row, with the stream's version and no event.
            let Some(position) = row.try_get::<_, Option<i64>>(1).map_err(backend)? else {
                return Ok(Attempt::Refused);
            };
            positions.push(position as u64);
            stream_version = row.try_get::<_, i64>(2).map_err(backend)? as u64;
            recorded_at = Some(row.try_get(3).map_err(backend)?);
        }
        Ok(Attempt::Written(AppendResult {
            stream_version,
            positions,
            recorded_at: recorded_at.unwrap_or_else(Utc::now),
        }))
    }

    /// Where the events with `ids` are stored, for those the log holds.
    async fn locate(&self, ids: &[Uuid]) -> Result<Vec<EventLocation>, StoreError> {
        let rows = self.rows(&self.sql.events_by_id, &[&ids]).await?;
        rows.iter()
            .map(|row| {
                Ok(EventLocation {
                    event_id: row.try_get(0).map_err(backend)?,
                    stream_id: row.try_get(1).map_err(backend)?,
                    stream_version: row.try_get::<_, i64>(2).map_err(backend)? as u64,
                    position: row.try_get::<_, i64>(3).map_err(backend)? as u64,
                    recorded_at: row.try_get(4).map_err(backend)?,
                })
            })
            .collect()
    }

    /// An append that wrote nothing: the first result of the same append when it is a
    /// re-sent copy (its ids stored, as it would have stored them), else the conflict.
    async fn refused(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: &[NewEvent],
    ) -> Result<AppendResult, StoreError> {
        let ids: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
        let stored = self.locate(&ids).await?;
        match resent(stream_id, expected, events, &stored) {
            Resent::Yes(result) => Ok(result),
            Resent::Clash(error) => Err(error),
            Resent::No => Err(StoreError::WrongExpectedVersion {
                stream_id: stream_id.to_owned(),
                expected,
                actual: self.stream_version(stream_id).await?,
            }),
        }
    }
}

/// How often an append whose expectation still holds (`Any`, `StreamExists`) is retried
/// after a concurrent writer took the version it computed.
const VERSION_RACE_RETRIES: usize = 8;

#[async_trait]
impl EventStore for PostgresStore {
    async fn append(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        check_append(stream_id, &events)?;
        let attempt = match (events.as_slice(), expected.exact()) {
            ([event], Some(version)) => self.append_one_at(stream_id, version, event).await?,
            _ => self.append_many(stream_id, expected, &events).await?,
        };
        let result = match attempt {
            Attempt::Written(result) => result,
            Attempt::Refused => self.refused(stream_id, expected, &events).await?,
        };
        self.announce(&result);
        Ok(result)
    }

    fn subscribe(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        self.listener.start(&self.head);
        Some(self.head.subscribe())
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
        let rows = self
            .rows(
                &self.sql.read_stream,
                &[&stream_id, &to_i64(from_version), &to_i64(max_count as u64)],
            )
            .await?;
        rows.iter().map(read_event).collect()
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
        let rows = self
            .rows(
                &self.sql.visit_stream,
                &[&stream_id, &to_i64(from_version), &to_i64(max_count as u64)],
            )
            .await?;
        for row in &rows {
            let event = stream_event(row, stream_id)?;
            if visitor(event).is_break() {
                break;
            }
        }
        Ok(rows.len())
    }

    async fn read_all(
        &self,
        after_position: u64,
        max_count: usize,
        filter: &EventFilter,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        if max_count == 0 {
            return Ok(Vec::new());
        }
        let after = to_i64(after_position);
        let limit = to_i64(max_count as u64);
        let rows = match filter.event_types() {
            None => self.rows(&self.sql.read_all, &[&after, &limit]).await?,
            Some([]) => return Ok(Vec::new()),
            Some(types) => {
                self.rows(&self.sql.read_all_filtered, &[&after, &limit, &types])
                    .await?
            }
        };
        rows.iter().map(read_event).collect()
    }

    /// Hands each row over as it arrives from the server, filling one record per row (no
    /// allocation per event), so the visitor works while the rest of the batch is still on
    /// the wire.
    async fn visit_all(
        &self,
        after_position: u64,
        max_count: usize,
        filter: &EventFilter,
        visitor: &mut LogVisitor<'_>,
    ) -> Result<usize, StoreError> {
        if max_count == 0 {
            return Ok(0);
        }
        let after = to_i64(after_position);
        let limit = to_i64(max_count as u64);
        let types;
        let (sql, params): (&str, &[&(dyn ToSql + Sync)]) = match filter.event_types() {
            None => (&self.sql.read_all, &[&after, &limit]),
            Some([]) => return Ok(0),
            Some(filtered) => {
                types = filtered;
                (&self.sql.read_all_filtered, &[&after, &limit, &types])
            }
        };
        let client = self.client().await?;
        let statement = match client.prepare_cached(sql).await {
            Ok(statement) => statement,
            Err(error) => return Err(failed(client, error)),
        };
        let rows = match client
            .query_raw(&statement, params.iter().map(|p| *p as &dyn ToSql))
            .await
        {
            Ok(rows) => rows,
            Err(error) => return Err(failed(client, error)),
        };
        let mut rows = std::pin::pin!(rows);
        let mut event = RecordedEvent::blank();
        let mut read = 0;
        loop {
            let row = match rows.next().await {
                None => break,
                Some(Ok(row)) => row,
                Some(Err(error)) => return Err(failed(client, error)),
            };
            read += 1;
            fill_event(&row, &mut event)?;
            if visitor(&event).is_break() {
                break;
            }
        }
        Ok(read)
    }

    async fn count_after(
        &self,
        after_position: u64,
        filter: &EventFilter,
    ) -> Result<u64, StoreError> {
        let after = to_i64(after_position);
        let count = match filter.event_types() {
            None => self.scalar(&self.sql.count_after, &[&after]).await?,
            Some([]) => 0,
            Some(types) => {
                self.scalar(&self.sql.count_after_filtered, &[&after, &types])
                    .await?
            }
        };
        Ok(count as u64)
    }

    async fn wait_for_visible_appends(
        &self,
        timeout: std::time::Duration,
    ) -> Result<bool, StoreError> {
        // Every transaction that has an id below the first unassigned one has started, so
        // once the oldest running transaction is at or past it, they have all ended.
        let deadline = tokio::time::Instant::now() + timeout;
        let client = self.client().await?;
        let horizon: String = client
            .query_one("SELECT pg_snapshot_xmax(pg_current_snapshot())::text", &[])
            .await
            .map_err(backend)?
            .get(0);
        let check = client
            .prepare_cached("SELECT pg_snapshot_xmin(pg_current_snapshot()) >= $1::text::xid8")
            .await
            .map_err(backend)?;
        let mut pause = std::time::Duration::from_micros(500);
        loop {
            let visible: bool = client
                .query_one(&check, &[&horizon])
                .await
                .map_err(backend)?
                .get(0);
            if visible {
                return Ok(true);
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(std::time::Duration::from_millis(20));
        }
    }

    async fn stream_version(&self, stream_id: &str) -> Result<u64, StoreError> {
        Ok(self.scalar(&self.sql.stream_version, &[&stream_id]).await? as u64)
    }

    fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Counts the committed events below no reader's horizon, and asks
    /// `pg_stat_activity` which backend's transaction holds the horizon back.
    async fn hidden_appends(&self) -> Result<Option<HiddenAppends>, StoreError> {
        let rows = self.rows(&self.sql.hidden_appends, &[]).await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let events: i64 = row.try_get(0).map_err(backend)?;
        if events == 0 {
            return Ok(None);
        }
        let pid: Option<i32> = row.try_get(1).map_err(backend)?;
        let held_by = match pid {
            None => "a transaction not listed in pg_stat_activity (a prepared transaction? see pg_prepared_xacts)".to_owned(),
            Some(pid) => {
                let text = |index| -> Result<String, StoreError> {
                    Ok(row
                        .try_get::<_, Option<String>>(index)
                        .map_err(backend)?
                        .unwrap_or_default())
                };
                format!(
                    "backend {pid} (user `{}`, application `{}`, {}), last statement: {}",
                    text(2)?,
                    text(3)?,
                    text(4)?,
                    text(5)?
                )
            }
        };
        let open_for = row
            .try_get::<_, Option<f64>>(6)
            .map_err(backend)?
            .and_then(|seconds| std::time::Duration::try_from_secs_f64(seconds).ok());
        Ok(Some(HiddenAppends::new(events as u64, held_by, open_for)))
    }

    /// The same store through the workers' pool.
    fn for_workers(&self) -> Self {
        PostgresStore {
            pool: self.workers.clone(),
            ..self.clone()
        }
    }

    async fn head_position(&self) -> Result<u64, StoreError> {
        Ok(self.scalar(&self.sql.head_position, &[]).await? as u64)
    }

    async fn locate_events(&self, event_ids: &[Uuid]) -> Result<Vec<EventLocation>, StoreError> {
        self.locate(event_ids).await
    }
}
