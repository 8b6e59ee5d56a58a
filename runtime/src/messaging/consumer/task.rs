//! The task that runs one consumer: receive, handle, settle.

use std::sync::Arc;

use super::{ConsumerOptions, MessageHandler, Shared};
use crate::caught::caught;
use crate::messaging::{Delivery, MessageSource};
use crate::store::{DeadLetter, DeadLetterStore};

pub(super) async fn run<M: MessageSource, H: MessageHandler, D: DeadLetterStore>(
    mut source: M,
    handler: Arc<H>,
    dead_letters: D,
    options: ConsumerOptions,
    shared: Arc<Shared>,
) {
    let owner = format!("consumer:{}", source.name());
    let mut stop = shared.stop.subscribe();
    let mut unavailable: u32 = 0;
    loop {
        if *stop.borrow() {
            break;
        }
        let received = tokio::select! {
            received = source.next() => received,
            _ = stop.changed() => break,
        };
        let delivery = match received {
            Ok(delivery) => {
                if unavailable > 0 {
                    unavailable = 0;
                    shared.status.send_modify(|s| s.unavailable = None);
                }
                delivery
            }
            Err(error) => {
                unavailable += 1;
                tracing::warn!(%error, "the consumer's broker is unavailable");
                shared
                    .status
                    .send_modify(|s| s.unavailable = Some(error.to_string()));
                let pause = options
                    .delay_after(unavailable)
                    .min(std::time::Duration::from_secs(5));
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    _ = stop.changed() => break,
                }
                continue;
            }
        };
        let Some(message) = delivery.message() else {
            let reason = format!("the message on `{}` has no message id", delivery.subject);
            tracing::warn!(%reason, "a message that does not read is given up");
            give_up(
                &dead_letters,
                &owner,
                None,
                delivery,
                reason.clone(),
                &shared,
            )
            .await;
            shared
                .status
                .send_modify(|s| s.last_failure = Some((None, reason)));
            continue;
        };
        // A handler that panics fails this delivery, not the consumer.
        let handled = match caught(handler.handle(&message)).await {
            Ok(handled) => handled.map_err(|error| error.to_string()),
            Err(panic) => Err(format!("the handler panicked: {panic}")),
        };
        match handled {
            Ok(()) => {
                // Unacknowledged (the broker gone meanwhile), the message comes again and
                // the handler's idempotent effects make that harmless.
                if let Err(error) = delivery.settle.ack().await {
                    tracing::warn!(%error, message_id = %message.id, "acknowledgement lost");
                }
                shared.status.send_modify(|s| s.handled += 1);
            }
            Err(cause) => {
                let last = message.delivery >= options.max_deliveries;
                tracing::warn!(message_id = %message.id, delivery = message.delivery, %cause, last, "handler failed");
                shared.status.send_modify(|s| {
                    s.failed += 1;
                    s.last_failure = Some((Some(message.id), cause.clone()));
                });
                if last {
                    let error = format!(
                        "failed at each of {} deliveries; last: {cause}",
                        message.delivery
                    );
                    give_up(
                        &dead_letters,
                        &owner,
                        Some(message.id),
                        delivery,
                        error,
                        &shared,
                    )
                    .await;
                } else if let Err(error) = delivery
                    .settle
                    .retry(options.delay_after(message.delivery))
                    .await
                {
                    tracing::warn!(%error, message_id = %message.id, "settling a failed message");
                }
            }
        }
    }
    shared.status.send_modify(|s| s.stopped = true);
}

/// Gives `delivery` up: records it as a dead letter, then tells the broker never to deliver
/// it again. Should the letter not be written, the message is left to come again instead:
/// nothing is given up without a trace.
async fn give_up(
    dead_letters: &impl DeadLetterStore,
    owner: &str,
    message_id: Option<uuid::Uuid>,
    delivery: Delivery,
    error: String,
    shared: &Shared,
) {
    let Delivery {
        subject,
        payload,
        headers,
        settle,
        ..
    } = delivery;
    let letter = DeadLetter::message(owner, message_id, subject, payload, headers, error);
    if let Err(error) = dead_letters.add_dead_letter(&letter).await {
        tracing::warn!(%error, "the dead letter was not written; the message will come again");
        let _ = settle.retry(std::time::Duration::from_secs(1)).await;
        return;
    }
    if let Err(error) = settle.reject().await {
        tracing::warn!(%error, "terminating a message given up");
    }
    shared.status.send_modify(|s| s.given_up += 1);
}
