//! Checkpoints: how far a reader of the log (a projection, later a relay or a consumer) has
//! got, kept by name.

use async_trait::async_trait;

use super::StoreError;

/// Named checkpoints, each a position of the global log (0: nothing handled yet).
///
/// Writes are conditional: a checkpoint moves only from where its writer last saw it, so two
/// runners of one reader never both advance it.
#[async_trait]
pub trait CheckpointStore: Send + Sync + 'static {
    /// The stored checkpoint `name` (0 when there is none).
    async fn checkpoint(&self, name: &str) -> Result<u64, StoreError>;

    /// Moves checkpoint `name` from `from` to `to`. Returns `false`, and writes nothing,
    /// when it is not at `from` (another runner moved it). A checkpoint that does not exist
    /// yet is at 0.
    async fn move_checkpoint(&self, name: &str, from: u64, to: u64) -> Result<bool, StoreError>;
}
