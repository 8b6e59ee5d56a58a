//! What the SQL stores share about how an event sits in its row.

#![cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]

use super::{Metadata, StoreError};

/// SQL databases store integers as i64: positions, versions and counts above it are
/// clamped (no log gets there).
pub(crate) fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// The metadata column's JSON: only when the metadata has user key/values (correlation and
/// causation ids have columns of their own: 16 bytes each, no JSON to render and parse per
/// row).
pub(crate) fn metadata_json(metadata: &Metadata) -> Result<Option<String>, StoreError> {
    if metadata.extra.is_empty() {
        return Ok(None);
    }
    serde_json::to_string(metadata)
        .map(Some)
        .map_err(StoreError::backend)
}

/// A stored row that does not read back as an event: its position and stream when those
/// read, and the column that does not.
pub(crate) fn corrupt(
    position: Option<u64>,
    stream: Option<(&str, u64)>,
    column: &'static str,
    reason: impl std::fmt::Display,
) -> StoreError {
    StoreError::CorruptEvent {
        position,
        stream: stream.map(|(stream, version)| (stream.to_owned(), version)),
        column,
        reason: reason.to_string(),
    }
}

/// A stored checkpoint of projection `projection`: never negative.
pub(crate) fn checkpoint(projection: &str, position: i64) -> Result<u64, StoreError> {
    unsigned(position).map_err(|reason| StoreError::CorruptCheckpoint {
        projection: projection.to_owned(),
        reason,
    })
}

/// A stored position, version or count: never negative.
pub(crate) fn unsigned(value: i64) -> Result<u64, String> {
    u64::try_from(value).map_err(|_| format!("{value} is negative"))
}
