//! The task that runs one projection: catch up in batches, then tail the log; on a failure,
//! back off and retry.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};

use super::RunnerOptions;
use super::shared::Shared;
use super::sink::{Progress, Sink};
use super::{ProjectionFailure, Status, Waiting};
use crate::caught::caught;
use crate::projection::Projection;
use crate::store::{EventFilter, EventStore, head_changed};

/// Runs the projection until it is stopped. Should the task itself die (a panic outside
/// the read model's code, which is caught where it runs), the projection shows it as
/// failing, with the cause, instead of running on in silence.
pub(super) async fn run<S: EventStore, P: Projection, K: Sink<P>>(
    store: S,
    options: RunnerOptions,
    shared: Arc<Shared<P>>,
    sink: K,
) {
    if let Err(panic) = caught(run_loop(store, options, Arc::clone(&shared), sink)).await {
        tracing::error!(projection = P::NAME, %panic, "the projection's task died");
        let message = format!("the projection's task died: {panic}");
        shared
            .status
            .send_replace(Status::Failing(ProjectionFailure::new(
                P::NAME,
                None,
                message,
            )));
    }
}

async fn run_loop<S: EventStore, P: Projection, K: Sink<P>>(
    store: S,
    options: RunnerOptions,
    shared: Arc<Shared<P>>,
    sink: K,
) {
    let filter = EventFilter::types(P::event_types());
    let mut notifications = store.subscribe();
    let mut stop = shared.stop.subscribe();
    let mut failures: u32 = 0;
    // Since when appends it was woken for have stayed hidden (PostgreSQL).
    let mut waiting_since: Option<DateTime<Utc>> = None;
    let batch_size = options.batch_size;
    loop {
        if *stop.borrow() {
            break;
        }
        let ready = match rebuild_if_asked(&shared, &sink).await {
            Ok(()) => check_checkpoint(&store, &shared).await,
            Err(failure) => Err(failure),
        };
        let outcome = match ready {
            Err(failure) => Err(failure),
            Ok(()) => {
                let read_number = shared.reads_started.fetch_add(1, Ordering::SeqCst) + 1;
                let after = shared.tracked().checkpoint;
                // Stopping does not wait for a slow read: nothing of an unfinished read has
                // been applied (a read model in memory applies without awaiting; a SQL batch
                // commits whole or not at all; a flushed external batch is in the read
                // model's inbox).
                // The read model's own code (a flush, an inbox query) may panic: a failure
                // of this projection, not the death of its task.
                let read = caught(sink.read_apply(&store, &shared, after, batch_size, &filter));
                tokio::select! {
                    outcome = read => match outcome {
                        Ok(outcome) => outcome.map(|progress| (progress, read_number)),
                        Err(panic) => Err(ProjectionFailure::new(
                            P::NAME,
                            None,
                            format!("the read model panicked: {panic}"),
                        )),
                    },
                    _ = stop.changed() => break,
                }
            }
        };
        match outcome {
            Ok((progress, read_number)) => {
                failures = 0;
                if waiting_since.is_none() {
                    shared.status.send_if_modified(|status| {
                        let changed = *status != Status::Running;
                        *status = Status::Running;
                        changed
                    });
                }
                if progress == Progress::More {
                    // Catching up: let other tasks on this worker run between batches.
                    tokio::task::yield_now().await;
                    continue;
                }
                shared.caught_up.send_replace(read_number);
                // While appends stay hidden, it goes on waiting for them at once.
                let woken = waiting_since.is_some()
                    || tokio::select! {
                        () = shared.wake.notified() => true,
                        () = head_changed(&mut notifications) => true,
                        () = tokio::time::sleep(options.poll_interval) => false,
                        _ = stop.changed() => false,
                    };
                if woken {
                    // On PostgreSQL a notified append stays invisible to the log's readers
                    // while an older transaction anywhere on the server is open; a read
                    // now would come back short and then wait for a notification that has
                    // already come. (Immediate on the single-writer stores.) A wait that
                    // lasts is shown in the status, with what holds the appends back.
                    tokio::select! {
                        () = wait_until_visible(&store, &shared, &options, &mut waiting_since) => {}
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

/// Waits a while for notified appends to become visible; should they stay hidden, the
/// status says what holds them back and since when, until they are seen.
async fn wait_until_visible<S: EventStore, P: Projection>(
    store: &S,
    shared: &Shared<P>,
    options: &RunnerOptions,
    waiting_since: &mut Option<DateTime<Utc>>,
) {
    let hidden = match store
        .wait_for_visible_appends(options.visibility_wait())
        .await
    {
        Ok(true) => Ok(None),
        Ok(false) => store.hidden_appends().await,
        Err(error) => Err(error),
    };
    match hidden {
        Ok(Some(hidden)) => {
            let since = *waiting_since.get_or_insert_with(Utc::now);
            tracing::debug!(projection = P::NAME, %hidden, "waiting for hidden appends");
            shared
                .status
                .send_replace(Status::Waiting(Waiting { hidden, since }));
        }
        Ok(None) => {
            if waiting_since.take().is_some() {
                shared.status.send_replace(Status::Running);
            }
        }
        Err(error) => {
            tracing::debug!(projection = P::NAME, %error, "waiting for visible appends failed");
        }
    }
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
    match caught(sink.rebuild(shared, rebuilt)).await {
        Ok(Ok(())) => {
            shared.rebuilt();
            Ok(())
        }
        Ok(Err((error, rebuilt))) => {
            shared.ask_rebuild(rebuilt, false);
            Err(ProjectionFailure::new(
                P::NAME,
                None,
                format!("rebuild failed: {error}"),
            ))
        }
        Err(panic) => Err(ProjectionFailure::new(
            P::NAME,
            None,
            format!("rebuild failed: the read model panicked: {panic}"),
        )),
    }
}

/// Checks the checkpoint against the log's head when it is due (at the start, after another
/// runner moved it). A checkpoint past the head means the read model holds events this log
/// does not have: it would silently miss every new event up to there, so the projection
/// is blocked, visibly, until it is rebuilt.
async fn check_checkpoint<S: EventStore, P: Projection>(
    store: &S,
    shared: &Shared<P>,
) -> Result<(), ProjectionFailure> {
    if shared.take_unverified() {
        let checkpoint = shared.tracked().checkpoint;
        match store.head_position().await {
            Ok(head) if checkpoint > head => shared.block(format!(
                "its checkpoint, position {checkpoint}, is past the log's head, position {head}: \
                 the read model holds events this log does not have (a log restored from an \
                 older backup, another database, a checkpoint moved by hand) and would miss \
                 every new event up to there; rebuild it"
            )),
            Ok(_) => {}
            Err(error) => {
                shared.unverify();
                return Err(ProjectionFailure::new(P::NAME, None, error.to_string()));
            }
        }
    }
    match shared.blocked() {
        Some(reason) => Err(ProjectionFailure::new(P::NAME, None, reason)),
        None => Ok(()),
    }
}
