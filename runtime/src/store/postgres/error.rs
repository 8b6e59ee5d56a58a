//! PostgreSQL's errors: what they say, and which ones leave a connection unusable.

use std::error::Error as StdError;

use crate::store::StoreError;

/// Whether `error` means the connection is gone (closed, terminated by an administrator,
/// a crash or shutdown of the server, a broken socket), so it must not go back to the pool.
fn connection_lost(client: &deadpool_postgres::Object, error: &tokio_postgres::Error) -> bool {
    client.is_closed()
        || error.is_closed()
        || match error.code() {
            Some(state) => state.code().starts_with("57P") || state.code().starts_with("08"),
            // No SQLSTATE: an I/O or protocol failure, not an answer from the server.
            None => true,
        }
}

/// Maps a failed query's error, dropping the connection instead of pooling it again if the
/// error says it is gone, so the next call gets a working one.
pub(super) fn failed(
    client: deadpool_postgres::Object,
    error: tokio_postgres::Error,
) -> StoreError {
    if connection_lost(&client, &error) {
        drop(deadpool_postgres::Object::take(client));
    }
    backend(error)
}

/// A driver error as a store error, with the server's message.
pub(super) fn backend(error: tokio_postgres::Error) -> StoreError {
    StoreError::backend(PostgresError(error))
}

/// Whether `error` is the unique violation of `(stream_id, stream_version)`: a concurrent
/// writer took the version this append computed.
pub(super) fn is_version_race(error: &tokio_postgres::Error) -> bool {
    error.as_db_error().is_some_and(|db| {
        db.code() == &tokio_postgres::error::SqlState::UNIQUE_VIOLATION
            && db.constraint() == Some("events_stream_version_unique")
    })
}

/// A driver error whose message includes the server's (tokio-postgres prints only "db
/// error" for errors the server reports).
#[derive(Debug)]
struct PostgresError(tokio_postgres::Error);

impl std::fmt::Display for PostgresError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.as_db_error() {
            Some(db) => write!(
                f,
                "{}: {} ({})",
                db.severity(),
                db.message(),
                db.code().code()
            ),
            None => self.0.fmt(f),
        }
    }
}

impl StdError for PostgresError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&self.0)
    }
}
