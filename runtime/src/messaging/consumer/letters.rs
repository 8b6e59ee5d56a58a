//! A consumer's dead letters, for operators: listed, handled again after a fix, or
//! discarded.

use std::sync::Arc;

use async_trait::async_trait;
use uuid::Uuid;

use super::MessageHandler;
use crate::caught::caught;
use crate::messaging::IncomingMessage;
use crate::store::{DeadLetter, DeadLetterStore, StoreError};

/// Why a dead letter could not be handled again.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// The consumer has no letter with this id.
    #[error("no dead letter {0}")]
    NoSuchLetter(Uuid),
    /// The letter's message still does not read, or its handler still fails: it stays.
    #[error("the message still fails: {0}")]
    StillFailing(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A consumer's dead letters, its handler and its store, the types erased.
#[async_trait]
pub(super) trait Letters: Send + Sync {
    async fn list(&self) -> Result<Vec<DeadLetter>, StoreError>;
    async fn replay(&self, letter: Uuid) -> Result<(), ReplayError>;
    async fn discard(&self, letter: Uuid) -> Result<bool, StoreError>;
}

pub(super) struct Kept<H, D> {
    pub(super) handler: Arc<H>,
    pub(super) store: D,
    pub(super) owner: String,
}

#[async_trait]
impl<H: MessageHandler, D: DeadLetterStore> Letters for Kept<H, D> {
    async fn list(&self) -> Result<Vec<DeadLetter>, StoreError> {
        self.store.dead_letters(&self.owner).await
    }

    async fn replay(&self, letter: Uuid) -> Result<(), ReplayError> {
        let letters = self.store.dead_letters(&self.owner).await?;
        let Some(letter) = letters.into_iter().find(|l| l.id == letter) else {
            return Err(ReplayError::NoSuchLetter(letter));
        };
        let message = IncomingMessage::new(
            letter.subject.clone().unwrap_or_default(),
            letter.payload.clone().unwrap_or_default(),
            letter.headers.clone(),
            1,
        )
        .ok_or_else(|| ReplayError::StillFailing("it has no message id".into()))?;
        match caught(self.handler.handle(&message)).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => return Err(ReplayError::StillFailing(error.to_string())),
            Err(panic) => {
                return Err(ReplayError::StillFailing(format!(
                    "the handler panicked: {panic}"
                )));
            }
        }
        self.store
            .remove_dead_letter(&self.owner, letter.id)
            .await?;
        Ok(())
    }

    async fn discard(&self, letter: Uuid) -> Result<bool, StoreError> {
        self.store.remove_dead_letter(&self.owner, letter).await
    }
}
