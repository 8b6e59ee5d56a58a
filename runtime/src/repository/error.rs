//! How loading an aggregate and running a command fail.

use crate::event::{EncodeError, EventDecodeError};
use crate::store::StoreError;

/// Loading an aggregate failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored event does not decode.
    #[error(transparent)]
    Decode(#[from] EventDecodeError),
    /// The store returned a stream whose versions are not consecutive.
    #[error("stream `{stream_id}` jumps from version {expected} to {found}")]
    BrokenStream {
        /// The stream.
        stream_id: String,
        /// The version that should have come next.
        expected: u64,
        /// The version that came.
        found: u64,
    },
}

/// A command did not complete.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError<E: std::error::Error + 'static> {
    /// The aggregate rejected the command (its domain error).
    #[error("command rejected: {0}")]
    Rejected(#[source] E),
    /// The command requires an existing stream, and there is none.
    #[error("`{stream_id}` does not exist")]
    NotFound {
        /// The target stream.
        stream_id: String,
    },
    /// The command creates its stream, and the stream already exists.
    #[error("`{stream_id}` already exists (at version {version})")]
    AlreadyExists {
        /// The target stream.
        stream_id: String,
        /// Its current version.
        version: u64,
    },
    /// Every attempt met a concurrent writer.
    #[error("`{stream_id}` kept changing concurrently; gave up after {attempts} attempts")]
    Conflict {
        /// The target stream.
        stream_id: String,
        /// Attempts made.
        attempts: u32,
    },
    /// The aggregate could not be loaded.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// A decided event could not be encoded.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// The store failed while appending.
    #[error(transparent)]
    Store(#[from] StoreError),
}
