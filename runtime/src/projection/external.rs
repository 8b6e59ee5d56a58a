//! Read models outside the event store's database (a search index, a cache, another
//! service's database), delivered at least once, deduplicated by the read model's inbox.
//!
//! The runner cannot commit the read model's changes with its checkpoint here: they live in
//! different systems. So delivery is at least once (a crash after the read model's changes
//! and before the checkpoint replays the batch), and the read model keeps an *inbox*: the
//! ids of the events it has applied, recorded in its own store together with the changes
//! (in one transaction, one `MULTI`, one document write). Before the handlers see a batch,
//! the runner asks [`ExternalProjection::processed`] which of its events the read model
//! already has, and skips them: a handler never sees an event twice.

use std::collections::HashSet;

use async_trait::async_trait;
use uuid::Uuid;

use super::Projection;

/// An error from a read model's own store.
pub type ReadModelError = Box<dyn std::error::Error + Send + Sync>;

/// A read model in a store of its own, with an inbox of applied event ids.
///
/// The handlers ([`Project`](crate::Project)) record the changes to make; [`flush`] makes
/// them durable together with the ids. The type is cloned for each batch (make it a handle
/// to the read model's store, plus the changes waiting for `flush`).
///
/// [`flush`]: ExternalProjection::flush
#[async_trait]
pub trait ExternalProjection: Projection + Clone {
    /// Of `event_ids`, those whose changes the read model already holds (its inbox).
    async fn processed(&self, event_ids: &[Uuid]) -> Result<HashSet<Uuid>, ReadModelError>;

    /// Makes the changes the handlers recorded since the last flush durable, and records
    /// `event_ids` in the inbox, atomically in the read model's store. It must fail, and
    /// change nothing, if one of the ids is already there (a unique key on the inbox does
    /// it): two runners of one projection may flush the same batch, and only one may land.
    async fn flush(&mut self, event_ids: &[Uuid]) -> Result<(), ReadModelError>;
}
