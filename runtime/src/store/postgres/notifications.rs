//! Notifications across processes: after appends the store sends a coalesced `NOTIFY` on
//! its schema's channel, and a live reader's store `LISTEN`s on it, raising the head its
//! readers wait on.

use std::future::Future;
use std::sync::Arc;

use deadpool_postgres::Pool;
use tokio_postgres::NoTls;

use crate::store::Head;

/// The `LISTEN`/`NOTIFY` channel of a schema's appends (an identifier, at most 63 bytes).
pub(super) fn channel(schema: &str) -> String {
    let mut channel = format!("annals.{schema}");
    channel.truncate(63);
    channel
}

/// The `NOTIFY` side of notifications: appends record the highest position to announce,
/// and one background task announces it, coalescing bursts of appends into one
/// notification.
pub(super) struct Notifier {
    enabled: bool,
    channel: String,
    pending: std::sync::atomic::AtomicU64,
    wake: tokio::sync::Notify,
    started: std::sync::Once,
}

impl Notifier {
    pub(super) fn new(channel: String, enabled: bool) -> Self {
        Notifier {
            enabled,
            channel,
            pending: std::sync::atomic::AtomicU64::new(0),
            wake: tokio::sync::Notify::new(),
            started: std::sync::Once::new(),
        }
    }

    /// Records `position` to announce, and wakes the task that announces it (started by
    /// the first append).
    pub(super) fn announce(self: &Arc<Self>, position: u64, pool: &Pool) {
        if !self.enabled {
            return;
        }
        self.pending
            .fetch_max(position, std::sync::atomic::Ordering::SeqCst);
        self.started.call_once(|| {
            let (notifier, pool) = (Arc::downgrade(self), pool.clone());
            tokio::spawn(notify_loop(notifier, pool));
        });
        self.wake.notify_one();
    }
}

/// Sends the pending position on the channel after each burst of appends; ends when the
/// store is gone.
async fn notify_loop(notifier: std::sync::Weak<Notifier>, pool: Pool) {
    // At most one notification per 10 ms: cheap for the server, and a wake-up within 10 ms
    // (readers otherwise poll).
    const COALESCE: std::time::Duration = std::time::Duration::from_millis(10);
    loop {
        let Some(strong) = notifier.upgrade() else {
            return;
        };
        let woken =
            tokio::time::timeout(std::time::Duration::from_secs(1), strong.wake.notified()).await;
        if woken.is_err() {
            continue; // quiet: check the store still exists
        }
        tokio::time::sleep(COALESCE).await;
        let position = strong.pending.swap(0, std::sync::atomic::Ordering::SeqCst);
        if position == 0 {
            continue;
        }
        let sent = match pool.get().await {
            Ok(client) => client
                // A wake-up need not be durable: no wait for the WAL to reach the disk.
                .execute(
                    "SELECT set_config('synchronous_commit', 'off', true), pg_notify($1, $2)",
                    &[&strong.channel, &position.to_string()],
                )
                .await
                .map(drop)
                .map_err(|error| error.to_string()),
            Err(error) => Err(error.to_string()),
        };
        if let Err(error) = sent {
            tracing::warn!(%error, "NOTIFY failed; readers in other processes poll");
        }
    }
}

/// The `LISTEN` side of notifications: a connection of its own, started by the first live
/// reader, feeding the store's wake-ups until the store is dropped.
pub(super) struct Listener {
    config: tokio_postgres::Config,
    channel: String,
    started: std::sync::Once,
    enabled: bool,
}

impl Listener {
    pub(super) fn new(config: tokio_postgres::Config, channel: String, enabled: bool) -> Self {
        Listener {
            config,
            channel,
            started: std::sync::Once::new(),
            enabled,
        }
    }

    /// Starts listening (once per store), raising `head` with each notification.
    pub(super) fn start(&self, head: &Arc<Head>) {
        if !self.enabled {
            return;
        }
        self.started.call_once(|| {
            let (config, channel) = (self.config.clone(), self.channel.clone());
            let appended = Arc::downgrade(head);
            tokio::spawn(async move {
                // Reconnects after a failure; ends when the store is gone.
                while appended.strong_count() > 0 {
                    if let Err(error) = listen(&config, &channel, &appended).await {
                        tracing::warn!(%error, "LISTEN connection failed; readers poll until it is back");
                    }
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
            });
        });
    }
}

/// Listens on `channel` and raises the head with each notification's position.
async fn listen(
    config: &tokio_postgres::Config,
    channel: &str,
    appended: &std::sync::Weak<Head>,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = config.connect(NoTls).await?;
    let statement = format!("LISTEN \"{channel}\"");
    let mut listen = std::pin::pin!(client.batch_execute(&statement));
    let mut listening = false;
    loop {
        let message = std::future::poll_fn(|cx| {
            // Drive the LISTEN request (until it completes) and the connection together.
            if !listening {
                match listen.as_mut().poll(cx) {
                    std::task::Poll::Ready(Ok(())) => listening = true,
                    std::task::Poll::Ready(Err(error)) => {
                        return std::task::Poll::Ready(Some(Err(error)));
                    }
                    std::task::Poll::Pending => {}
                }
            }
            connection.poll_message(cx)
        });
        let message = tokio::time::timeout(std::time::Duration::from_secs(5), message).await;
        let Some(appended) = appended.upgrade() else {
            return Ok(());
        };
        match message {
            Err(_) => continue, // a quiet period: check the store is still there
            Ok(None) => return Ok(()),
            Ok(Some(Err(error))) => return Err(error),
            Ok(Some(Ok(tokio_postgres::AsyncMessage::Notification(notification)))) => {
                match notification.payload().parse::<u64>() {
                    Ok(position) => appended.advance(position),
                    Err(_) => appended.wake(),
                }
            }
            Ok(Some(Ok(_))) => {}
        }
    }
}
