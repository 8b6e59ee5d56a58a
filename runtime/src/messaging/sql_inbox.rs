//! Consumers whose effects are SQL tables of the store's database: the statements a
//! message makes commit with the message's inbox record, so a message delivered again is
//! acknowledged without its handler running again.

use async_trait::async_trait;

use super::{HandlerError, IncomingMessage, MessageHandler};
use crate::store::{InboxStore, SqlStatement};

/// What a message does to SQL tables: the statements to run, with `$1`, `$2`, ...
/// placeholders, as a SQL read model's handlers write them.
pub trait SqlMessageHandler: Send + Sync + 'static {
    /// The statements `message` makes.
    fn statements(&self, message: &IncomingMessage) -> Result<Vec<SqlStatement>, HandlerError>;
}

/// A [`MessageHandler`] that commits a [`SqlMessageHandler`]'s statements with the
/// message's record in the consumer's inbox, in one transaction of `store`: each message's
/// statements run once, however often it is delivered, whichever process receives it.
///
/// ```
/// use std::sync::Arc;
/// use annals::messaging::{HandlerError, IncomingMessage, SqlInbox, SqlMessageHandler};
/// use annals::store::{SqlStatement, SqliteStore};
///
/// /// Each placed order becomes a row of `parcels`.
/// struct Parcels;
///
/// impl SqlMessageHandler for Parcels {
///     fn statements(&self, message: &IncomingMessage) -> Result<Vec<SqlStatement>, HandlerError> {
///         let order: serde_json::Value = message.json()?;
///         Ok(vec![SqlStatement {
///             sql: Arc::from("INSERT INTO parcels (order_id) VALUES ($1)"),
///             params: vec![order["order_id"].as_str().unwrap_or_default().into()],
///         }])
///     }
/// }
///
/// # fn build(store: SqliteStore) {
/// let handler = SqlInbox::new(store, "shipping", Parcels);
/// # }
/// ```
pub struct SqlInbox<S, H> {
    store: S,
    consumer: String,
    handler: H,
}

impl<S: InboxStore, H: SqlMessageHandler> SqlInbox<S, H> {
    /// `handler`'s statements, committed in `store` with the inbox of `consumer`.
    pub fn new(store: S, consumer: impl Into<String>, handler: H) -> Self {
        SqlInbox {
            store,
            consumer: consumer.into(),
            handler,
        }
    }
}

#[async_trait]
impl<S: InboxStore, H: SqlMessageHandler> MessageHandler for SqlInbox<S, H> {
    async fn handle(&self, message: &IncomingMessage) -> Result<(), HandlerError> {
        if self.store.inbox_holds(&self.consumer, message.id).await? {
            tracing::debug!(message_id = %message.id, "already in the inbox; acknowledged");
            return Ok(());
        }
        let statements = self.handler.statements(message)?;
        // `false`: another delivery of it committed meanwhile; nothing ran twice.
        self.store
            .commit_message(&self.consumer, message.id, statements)
            .await?;
        Ok(())
    }
}
