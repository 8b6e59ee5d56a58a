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
    /// The command requires an existing stream (the default rule), and there is none.
    #[error(
        "`{stream_id}` does not exist: the command needs an existing stream; a command that \
         creates the stream needs `#[command(expect = new)]` (or `expect = any` to take either)"
    )]
    NotFound {
        /// The target stream.
        stream_id: String,
    },
    /// The command creates its stream (`#[command(expect = new)]`), and the stream already
    /// exists.
    #[error("`{stream_id}` already exists (at version {version}): the command creates its stream")]
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
    /// A [`CommandDispatcher`](crate::CommandDispatcher) has no repository for the
    /// command's aggregate.
    #[error(
        "no repository serves aggregate `{aggregate}` (command `{command}`): add one with \
         `CommandDispatcher::with_repository`"
    )]
    NoRepository {
        /// The command.
        command: &'static str,
        /// Its aggregate's type.
        aggregate: &'static str,
    },
}

impl<E: std::error::Error + 'static> CommandError<E> {
    /// Whether the domain said no: the aggregate rejected the command
    /// ([`Rejected`](CommandError::Rejected)), or its stream is not in the state the command
    /// requires ([`NotFound`](CommandError::NotFound),
    /// [`AlreadyExists`](CommandError::AlreadyExists)). The same command gives the same
    /// answer again: it is the caller's to show, not to retry. Everything else is an
    /// infrastructure failure ([`is_infrastructure`](CommandError::is_infrastructure)).
    ///
    /// ```
    /// # #[derive(Debug, thiserror::Error)]
    /// # #[error("insufficient funds")]
    /// # struct InsufficientFunds;
    /// use annals::CommandError;
    ///
    /// let refused = CommandError::Rejected(InsufficientFunds);
    /// assert!(refused.is_rejection() && !refused.is_infrastructure());
    /// assert!(refused.rejection().is_some());
    /// ```
    pub fn is_rejection(&self) -> bool {
        matches!(
            self,
            CommandError::Rejected(_)
                | CommandError::NotFound { .. }
                | CommandError::AlreadyExists { .. }
        )
    }

    /// Whether the command failed outside the domain: the store, the stored data, encoding,
    /// or writers that kept conflicting. The command may not have been decided at all; an
    /// operator or a retry deals with it, not the user.
    pub fn is_infrastructure(&self) -> bool {
        !self.is_rejection()
    }

    /// The aggregate's domain error, when it rejected the command.
    pub fn rejection(&self) -> Option<&E> {
        match self {
            CommandError::Rejected(error) => Some(error),
            _ => None,
        }
    }
}
