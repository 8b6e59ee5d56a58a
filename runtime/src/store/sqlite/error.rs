//! SQLite's errors: which ones mean "not now" (another connection holds the lock past the
//! busy timeout) and which ones are final.

use crate::store::StoreError;

/// A SQLite error as a store error: a busy or locked database is
/// [`Unavailable`](StoreError::Unavailable) (nothing was written; the call may succeed
/// later), anything else a backend failure.
pub(super) fn from_sqlite(error: rusqlite::Error) -> StoreError {
    if is_busy(&error) {
        StoreError::unavailable(error)
    } else {
        StoreError::backend(error)
    }
}

/// Whether another connection holds the lock `error` waited for.
pub(super) fn is_busy(error: &rusqlite::Error) -> bool {
    matches!(
        error,
        rusqlite::Error::SqliteFailure(failure, _)
            if matches!(
                failure.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            )
    )
}
