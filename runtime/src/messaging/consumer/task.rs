//! The task that runs one consumer: receive, handle, settle.

use std::sync::Arc;

use super::{ConsumerOptions, MessageHandler, Shared};
use crate::caught::caught;
use crate::messaging::{Delivery, MessageSource};

pub(super) async fn run<M: MessageSource, H: MessageHandler>(
    mut source: M,
    handler: H,
    options: ConsumerOptions,
    shared: Arc<Shared>,
) {
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
        let Delivery { message, settle } = match received {
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
        let message = match message {
            Ok(message) => message,
            Err(reason) => {
                tracing::warn!(%reason, "a message that does not read is given up");
                let _ = settle.reject().await;
                shared.status.send_modify(|s| {
                    s.given_up += 1;
                    s.last_failure = Some((None, reason));
                });
                continue;
            }
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
                if let Err(error) = settle.ack().await {
                    tracing::warn!(%error, message_id = %message.id, "acknowledgement lost");
                }
                shared.status.send_modify(|s| s.handled += 1);
            }
            Err(cause) => {
                let last = message.delivery >= options.max_deliveries;
                tracing::warn!(message_id = %message.id, delivery = message.delivery, %cause, last, "handler failed");
                let settled = if last {
                    settle.reject().await
                } else {
                    settle.retry(options.delay_after(message.delivery)).await
                };
                if let Err(error) = settled {
                    tracing::warn!(%error, message_id = %message.id, "settling a failed message");
                }
                shared.status.send_modify(|s| {
                    s.failed += 1;
                    s.given_up += u64::from(last);
                    s.last_failure = Some((Some(message.id), cause));
                });
            }
        }
    }
    shared.status.send_modify(|s| s.stopped = true);
}
