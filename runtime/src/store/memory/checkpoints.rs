//! The in-memory checkpoints.

use async_trait::async_trait;

use super::InMemoryStore;
use crate::store::{CheckpointStore, StoreError};

#[async_trait]
impl CheckpointStore for InMemoryStore {
    async fn checkpoint(&self, name: &str) -> Result<u64, StoreError> {
        Ok(self.read().checkpoints.get(name).copied().unwrap_or(0))
    }

    async fn move_checkpoint(&self, name: &str, from: u64, to: u64) -> Result<bool, StoreError> {
        let mut state = self.write();
        let current = state.checkpoints.entry(name.to_owned()).or_insert(0);
        if *current != from {
            return Ok(false);
        }
        *current = to;
        Ok(true)
    }
}
