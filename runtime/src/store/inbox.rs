//! Inboxes: messages handled into SQL tables of the store's database, once each.

use async_trait::async_trait;
use uuid::Uuid;

use super::{SqlStatement, SqlTarget, StoreError};

/// A database that records, per consumer, the messages it has handled, in the same
/// transaction as the handler's statements: a message delivered again is recognised, and
/// its statements never run twice.
#[async_trait]
pub trait InboxStore: SqlTarget {
    /// Whether `consumer`'s inbox holds `message_id`.
    async fn inbox_holds(&self, consumer: &str, message_id: Uuid) -> Result<bool, StoreError>;

    /// In one transaction: records `message_id` in `consumer`'s inbox and runs `statements`
    /// in order. Returns `false`, and changes nothing, when the inbox holds it already.
    async fn commit_message(
        &self,
        consumer: &str,
        message_id: Uuid,
        statements: Vec<SqlStatement>,
    ) -> Result<bool, StoreError>;
}
