//! PostgreSQL's errors: what they say, which ones leave a connection unusable, and which
//! ones are transient (nothing written, try again) or leave an append's outcome unknown.

use std::error::Error as StdError;

use tokio_postgres::error::SqlState;
use uuid::Uuid;

use crate::store::{NewEvent, StoreError};

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

/// Whether the server rolled the statement back for a reason that passes: a serialization
/// failure, a deadlock, a lock or statement timeout, too many connections.
fn retryable(error: &tokio_postgres::Error) -> bool {
    error.code().is_some_and(|state| {
        [
            SqlState::T_R_SERIALIZATION_FAILURE,
            SqlState::T_R_DEADLOCK_DETECTED,
            SqlState::LOCK_NOT_AVAILABLE,
            SqlState::QUERY_CANCELED,
            SqlState::TOO_MANY_CONNECTIONS,
            SqlState::CANNOT_CONNECT_NOW,
        ]
        .contains(state)
    })
}

/// Drops the connection instead of pooling it again if `error` says it is gone, so the
/// next call gets a working one; returns whether it did.
fn release(client: deadpool_postgres::Object, error: &tokio_postgres::Error) -> bool {
    let lost = connection_lost(&client, error);
    if lost {
        drop(deadpool_postgres::Object::take(client));
    }
    lost
}

/// A failed query's error (nothing of it written, or no write at all): a lost connection
/// or a passing refusal is [`Unavailable`](StoreError::Unavailable), anything else a backend
/// failure.
pub(super) fn failed(
    client: deadpool_postgres::Object,
    error: tokio_postgres::Error,
) -> StoreError {
    if release(client, &error) || retryable(&error) {
        StoreError::unavailable(PostgresError(error))
    } else {
        backend(error)
    }
}

/// A failed append's error: a connection lost while the statement was in flight leaves
/// its outcome unknown ([`OutcomeUnknown`](StoreError::OutcomeUnknown), with the events'
/// ids); otherwise as [`failed`].
pub(super) fn failed_append(
    client: deadpool_postgres::Object,
    error: tokio_postgres::Error,
    stream_id: &str,
    events: &[NewEvent],
) -> StoreError {
    if release(client, &error) {
        StoreError::OutcomeUnknown {
            stream_id: stream_id.to_owned(),
            event_ids: events
                .iter()
                .map(|event| event.event_id)
                .collect::<Vec<Uuid>>(),
            source: Box::new(PostgresError(error)),
        }
    } else if retryable(&error) {
        StoreError::unavailable(PostgresError(error))
    } else {
        backend(error)
    }
}

/// The pool could not hand out a connection: the server is unreachable or refuses for now
/// ([`Unavailable`](StoreError::Unavailable)), unless it refused the credentials or the
/// database, which no retry mends.
pub(super) fn from_pool(error: deadpool_postgres::PoolError) -> StoreError {
    let permanent = match &error {
        deadpool_postgres::PoolError::Backend(error) => error.code().is_some_and(|state| {
            let code = state.code();
            code.starts_with("28") || code.starts_with("3D") || code.starts_with("42")
        }),
        _ => false,
    };
    if permanent {
        StoreError::backend(error)
    } else {
        StoreError::unavailable(error)
    }
}

/// A driver error as a store error, with the server's message.
pub(super) fn backend(error: tokio_postgres::Error) -> StoreError {
    StoreError::backend(PostgresError(error))
}

/// Whether `error` is a unique index refusing the append: a concurrent writer took the
/// version it computed (`(stream_id, stream_version)`), or one of its event ids is stored.
pub(super) fn is_refusal(error: &tokio_postgres::Error) -> bool {
    is_version_race(error)
        || error.as_db_error().is_some_and(|db| {
            db.code() == &SqlState::UNIQUE_VIOLATION
                && db.constraint() == Some("events_event_id_unique")
        })
}

/// Whether `error` is the unique violation of `(stream_id, stream_version)`: a concurrent
/// writer took the version this append computed.
pub(super) fn is_version_race(error: &tokio_postgres::Error) -> bool {
    error.as_db_error().is_some_and(|db| {
        db.code() == &SqlState::UNIQUE_VIOLATION
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
