//! The task that runs one projection: catch up in batches, then tail the log; on a failure,
//! back off and retry.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::watch;

use super::RunnerOptions;
use super::shared::Shared;
use super::sink::Sink;
use super::{ProjectionFailure, Status};
use crate::projection::Projection;
use crate::store::{EventFilter, EventStore};

/// Runs the projection until it is stopped.
pub(super) async fn run<S: EventStore, P: Projection, K: Sink<P>>(
    store: S,
    options: RunnerOptions,
    shared: Arc<Shared<P>>,
    sink: K,
) {
    let filter = EventFilter::types(P::event_types());
    let mut notifications = store.subscribe();
    let mut stop = shared.stop.subscribe();
    let mut failures: u32 = 0;
    let batch_size = options.batch_size;
    loop {
        if *stop.borrow() {
            break;
        }
        let outcome = match rebuild_if_asked(&shared, &sink).await {
            Err(failure) => Err(failure),
            Ok(()) => {
                let read_number = shared.reads_started.fetch_add(1, Ordering::SeqCst) + 1;
                let after = shared.tracked().checkpoint;
                // Stopping does not wait for a slow read: nothing of an unfinished read has
                // been applied (a read model in memory applies without awaiting; a SQL batch
                // commits whole or not at all; a flushed external batch is in the read
                // model's inbox).
                tokio::select! {
                    outcome = sink.read_apply(&store, &shared, after, batch_size, &filter) => {
                        outcome.map(|read| (read, read_number))
                    }
                    _ = stop.changed() => break,
                }
            }
        };
        match outcome {
            Ok((read, read_number)) => {
                failures = 0;
                shared.status.send_if_modified(|status| {
                    let changed = *status != Status::Running;
                    *status = Status::Running;
                    changed
                });
                if read == batch_size {
                    // Catching up: let other tasks on this worker run between batches.
                    tokio::task::yield_now().await;
                    continue;
                }
                shared.caught_up.send_replace(read_number);
                let woken = tokio::select! {
                    () = shared.wake.notified() => true,
                    () = changed(&mut notifications) => true,
                    () = tokio::time::sleep(options.poll_interval) => false,
                    _ = stop.changed() => false,
                };
                if woken {
                    // On PostgreSQL a notified append stays invisible to the log's readers
                    // while an older transaction anywhere on the server is open; a read
                    // now would come back short and then wait for a notification that has
                    // already come. (Immediate on the single-writer stores.)
                    tokio::select! {
                        visible = store.wait_for_visible_appends(options.poll_interval) => {
                            if let Err(error) = visible {
                                tracing::debug!(projection = P::NAME, %error, "waiting for visible appends failed");
                            }
                        }
                        _ = stop.changed() => {}
                    }
                }
            }
            Err(mut failure) => {
                failures += 1;
                failure.attempts = failures;
                tracing::warn!(projection = P::NAME, position = ?failure.position, message = %failure.message, attempts = failures, "projection failing");
                shared.status.send_replace(Status::Failing(failure));
                tokio::select! {
                    () = shared.wake.notified() => {}
                    () = tokio::time::sleep(options.backoff_after(failures)) => {}
                    _ = stop.changed() => {}
                }
            }
        }
    }
    shared.status.send_replace(Status::Stopped);
}

/// Runs the rebuild an operator asked for, if any. A rebuild that fails is kept for the
/// next attempt, unless a newer one was asked for meanwhile.
async fn rebuild_if_asked<P: Projection, K: Sink<P>>(
    shared: &Shared<P>,
    sink: &K,
) -> Result<(), ProjectionFailure> {
    let Some(rebuilt) = shared.take_rebuild() else {
        return Ok(());
    };
    sink.rebuild(shared, rebuilt)
        .await
        .map_err(|(error, rebuilt)| {
            shared.ask_rebuild(rebuilt, false);
            ProjectionFailure::new(P::NAME, None, format!("rebuild failed: {error}"))
        })
}

/// Resolves when the store's wake-up changes; never, when the store has none.
async fn changed(notifications: &mut Option<watch::Receiver<u64>>) {
    match notifications {
        Some(receiver) => {
            if receiver.changed().await.is_err() {
                *notifications = None;
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending::<()>().await,
    }
}
