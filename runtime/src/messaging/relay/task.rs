//! The task that runs one relay: read the consumed events after the checkpoint, map each
//! to its message, send it, and move the checkpoint over the acknowledged prefix.
//!
//! Messages are sent in the log's order, many in flight but at most one per stream; their
//! acknowledgements are taken in the same order, so the checkpoint is always the highest
//! position below which every message is acknowledged. When the broker fails, everything
//! after that prefix is sent again (go-back-N): the broker and the consumers recognise a
//! message sent twice by its id. A message is lost in a broken connection while later
//! ones pass only across streams: a stream's next message is sent once the one before it
//! is acknowledged, so a stream's messages never overtake each other.

use std::collections::{HashSet, VecDeque};
use std::ops::ControlFlow;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use super::parking::{Parked, Request};
use super::shared::Shared;
use super::{RelayFailure, RelayOptions, RelayStatus};
use crate::messaging::{Ack, Broker, OutgoingMessage, Publisher};
use crate::store::{
    CheckpointStore, DeadLetterStore, EventFilter, EventStore, RecordedEvent, StoreError,
    head_changed,
};

/// An event read, mapped as it was read (the record is not kept).
pub(super) struct Read {
    position: u64,
    stream_id: String,
    event_id: uuid::Uuid,
    /// Its message, none, or why it has none.
    mapped: Result<Option<OutgoingMessage>, String>,
}

/// An event handed on: its message sent (with its stream's key) and the acknowledgement to
/// await, or nothing to await (it published nothing, or was skipped).
pub(super) struct InFlight {
    position: u64,
    sent: Option<(StreamKey, Ack)>,
}

/// A stream, as the window tells streams apart: a hash of its id. Two streams with one key
/// only wait for each other.
type StreamKey = u64;

fn stream_key(stream_id: &str) -> StreamKey {
    crate::key_hash::key_hash(stream_id)
}

/// Why a round stopped.
pub(super) enum Trouble {
    /// The broker or the store is unavailable: send again from the acknowledged prefix.
    Unavailable(String),
    /// The event at `position` cannot be published.
    Failed {
        position: u64,
        stream_id: Option<String>,
        message: String,
    },
}

/// Where a round left the relay.
#[derive(PartialEq, Eq)]
enum Round {
    /// More to read, send or acknowledge.
    Busy,
    /// Everything read is acknowledged and the log has no more: wait for new events.
    Idle,
}

pub(super) struct Relay<S, B, P> {
    pub(super) store: S,
    pub(super) broker: Arc<B>,
    pub(super) publisher: P,
    pub(super) options: RelayOptions,
    pub(super) shared: Arc<Shared>,
    pub(super) filter: EventFilter,
    /// The checkpoint as stored.
    pub(super) saved: u64,
    /// Acknowledged (or mapped to nothing, or skipped) up to here.
    pub(super) acked: u64,
    /// Read up to here.
    pub(super) read: u64,
    /// Read and not yet sent.
    pub(super) buffer: VecDeque<Read>,
    /// Sent, in the log's order.
    pub(super) in_flight: VecDeque<InFlight>,
    /// The streams with a message in flight: a stream's next message waits for it.
    pub(super) streams_in_flight: HashSet<StreamKey>,
    /// The last read came back short.
    pub(super) caught_up: bool,
    /// The streams parked behind a dead letter.
    pub(super) parked: Parked,
    /// What operators ask.
    pub(super) requests: tokio::sync::mpsc::UnboundedReceiver<Request>,
}

impl<S, B, P> Relay<S, B, P>
where
    S: EventStore + CheckpointStore + DeadLetterStore,
    B: Broker,
    P: Publisher,
{
    pub(super) async fn run(mut self) {
        let mut stop = self.shared.stop.subscribe();
        let mut notifications = self.store.subscribe();
        let mut failures: u32 = 0;
        if !self.prepare(&mut stop, &mut failures).await {
            self.shared.status.send_replace(RelayStatus::Stopped);
            return;
        }
        failures = 0;
        loop {
            if *stop.borrow() {
                break;
            }
            while let Ok(request) = self.requests.try_recv() {
                self.serve(request).await;
            }
            let round = tokio::select! {
                round = self.round() => round,
                _ = stop.changed() => break,
            };
            let trouble = match round {
                Ok(Round::Busy) => {
                    failures = 0;
                    tokio::task::yield_now().await;
                    continue;
                }
                Ok(Round::Idle) => {
                    failures = 0;
                    self.running();
                    let woken = tokio::select! {
                        () = head_changed(&mut notifications) => true,
                        () = tokio::time::sleep(self.options.poll_interval) => false,
                        () = self.shared.wake.notified() => false,
                        Some(request) = self.requests.recv() => {
                            self.serve(request).await;
                            false
                        }
                        _ = stop.changed() => break,
                    };
                    if woken {
                        // On PostgreSQL a notified append may not be visible yet: a read now
                        // would come back short, then wait for a wake-up already spent.
                        let wait = self
                            .options
                            .poll_interval
                            .min(std::time::Duration::from_secs(1));
                        let _ = self.store.wait_for_visible_appends(wait).await;
                    }
                    self.caught_up = false;
                    continue;
                }
                Err(trouble) => trouble,
            };
            failures += 1;
            self.recover(trouble, failures).await;
            tokio::select! {
                () = tokio::time::sleep(self.options.backoff_after(failures)) => {}
                () = self.shared.wake.notified() => {}
                _ = stop.changed() => break,
            }
        }
        // What is acknowledged stays published; the rest is sent again by the next relay.
        let _ = self.save().await;
        self.shared.status.send_replace(RelayStatus::Stopped);
    }

    /// Prepares the broker, retrying with backoff; `false` when stopped first.
    async fn prepare(
        &mut self,
        stop: &mut tokio::sync::watch::Receiver<bool>,
        failures: &mut u32,
    ) -> bool {
        loop {
            let prepared = tokio::select! {
                prepared = self.broker.prepare() => prepared,
                _ = stop.changed() => return false,
            };
            let Err(error) = prepared else { return true };
            *failures += 1;
            tracing::warn!(publisher = P::NAME, %error, "the relay cannot prepare its broker");
            self.shared.status.send_replace(RelayStatus::Retrying {
                error: error.to_string(),
                attempts: *failures,
            });
            tokio::select! {
                () = tokio::time::sleep(self.options.backoff_after(*failures)) => {}
                _ = stop.changed() => return false,
            }
        }
    }

    fn running(&self) {
        self.shared.status.send_if_modified(|status| {
            let changed = *status != RelayStatus::Running;
            *status = RelayStatus::Running;
            changed
        });
    }

    /// Reads if the buffer is empty, sends what the window allows, takes the
    /// acknowledgements that have come (waiting for one when nothing else can be done),
    /// and saves the checkpoint when it has moved far enough.
    async fn round(&mut self) -> Result<Round, Trouble> {
        if self.buffer.is_empty()
            && !self.caught_up
            && self.in_flight.len() < self.options.max_in_flight
        {
            self.read_batch().await?;
        }
        self.send().await?;
        let window_full = self.in_flight.len() >= self.options.max_in_flight;
        let nothing_to_send = self.buffer.is_empty() && self.caught_up;
        // The next event's stream has a message in flight: it waits for its acknowledgement.
        let stream_busy = self.buffer.front().is_some_and(|next| {
            self.streams_in_flight
                .contains(&stream_key(&next.stream_id))
        });
        if !self.in_flight.is_empty() && (window_full || nothing_to_send || stream_busy) {
            self.receive(true).await?;
        }
        self.receive(false).await?;
        if self.acked > self.saved
            && (self.in_flight.is_empty()
                || self.acked - self.saved >= self.options.batch_size as u64)
        {
            self.save().await?;
        }
        let idle = self.caught_up && self.buffer.is_empty() && self.in_flight.is_empty();
        if !idle {
            self.running();
        }
        Ok(if idle { Round::Idle } else { Round::Busy })
    }

    /// Reads the next batch of consumed events into the buffer.
    async fn read_batch(&mut self) -> Result<(), Trouble> {
        let batch_size = self.options.batch_size;
        let (buffer, publisher) = (&mut self.buffer, &self.publisher);
        let read = self
            .store
            .visit_all(self.read, batch_size, &self.filter, &mut |event| {
                buffer.push_back(Read {
                    position: event.position,
                    stream_id: event.stream_id.clone(),
                    event_id: event.event_id,
                    mapped: map(publisher, event),
                });
                ControlFlow::Continue(())
            })
            .await;
        match read {
            Ok(count) => {
                self.caught_up = count < batch_size;
                if let Some(last) = self.buffer.back() {
                    self.read = last.position;
                }
                Ok(())
            }
            Err(error) => match error.position() {
                // A row that does not read: the events before it go out; the operator may
                // step over it.
                Some(position) if self.buffer.is_empty() && self.shared.skips(position) => {
                    self.in_flight.push_back(InFlight {
                        position,
                        sent: None,
                    });
                    self.read = position;
                    Ok(())
                }
                Some(position) if self.buffer.is_empty() => Err(Trouble::Failed {
                    position,
                    stream_id: None,
                    message: error.to_string(),
                }),
                Some(_) => {
                    if let Some(last) = self.buffer.back() {
                        self.read = last.position;
                    }
                    Ok(())
                }
                None => Err(unavailable(&error)),
            },
        }
    }

    /// Sends the buffered events' messages while the window has room.
    async fn send(&mut self) -> Result<(), Trouble> {
        while self.in_flight.len() < self.options.max_in_flight {
            let Some(next) = self.buffer.front() else {
                return Ok(());
            };
            let stream = stream_key(&next.stream_id);
            if self.streams_in_flight.contains(&stream) {
                return Ok(());
            }
            let Some(Read {
                position,
                stream_id,
                event_id,
                mapped,
            }) = self.buffer.pop_front()
            else {
                return Ok(());
            };
            // A failure empties the buffer and reads again after the acknowledged prefix.
            let mapped = if self.shared.skips(position) {
                tracing::warn!(
                    publisher = P::NAME,
                    position,
                    "skipping an event, as an operator asked"
                );
                Ok(None)
            } else if self.parked.contains_key(&stream_id) {
                Err(String::new())
            } else {
                mapped
            };
            let sent = match mapped.transpose() {
                None => None,
                // Its stream waits behind a dead letter, or it cannot be mapped: a dead
                // letter, and the stream parked.
                Some(Err(error)) => {
                    self.dead_letter(position, &stream_id, event_id, error)
                        .await?;
                    None
                }
                Some(Ok(message)) => match self.broker.send(message).await {
                    Ok(ack) => Some((stream, ack)),
                    Err(error) if error.is_transient() => {
                        return Err(Trouble::Unavailable(error.to_string()));
                    }
                    Err(error) => {
                        self.dead_letter(position, &stream_id, event_id, error.to_string())
                            .await?;
                        None
                    }
                },
            };
            if sent.is_some() {
                self.streams_in_flight.insert(stream);
            }
            self.in_flight.push_back(InFlight { position, sent });
        }
        Ok(())
    }

    /// Takes the acknowledgements at the front of the window that have come; with `wait`,
    /// waits for the first.
    async fn receive(&mut self, mut wait: bool) -> Result<(), Trouble> {
        while let Some(InFlight { position, sent }) = self.in_flight.front_mut() {
            let position = *position;
            let acked = match sent {
                None => Ok(()),
                Some((_, ack)) if wait => ack.await,
                Some((_, ack)) => {
                    match ack.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
                        Poll::Ready(acked) => acked,
                        Poll::Pending => return Ok(()),
                    }
                }
            };
            wait = false;
            // Its future has completed: it leaves the window either way.
            if let Some(InFlight {
                sent: Some((stream, _)),
                ..
            }) = self.in_flight.pop_front()
            {
                self.streams_in_flight.remove(&stream);
            }
            match acked {
                Ok(()) => {}
                Err(error) if error.is_transient() => {
                    return Err(Trouble::Unavailable(error.to_string()));
                }
                // Refused for good after it was sent: a dead letter, like a refusal at
                // once. (No later message of its stream was sent: one per stream.)
                Err(error) => {
                    let event = self.event_at(position).await?;
                    self.dead_letter(
                        position,
                        &event.stream_id,
                        event.event_id,
                        error.to_string(),
                    )
                    .await?;
                }
            }
            self.acked = position;
            self.shared.published.send_replace(position);
        }
        Ok(())
    }

    /// The consumed event at `position`, read again.
    async fn event_at(&mut self, position: u64) -> Result<RecordedEvent, Trouble> {
        let events = self
            .store
            .read_all(position - 1, 1, &self.filter)
            .await
            .map_err(|e| unavailable(&e))?;
        events
            .into_iter()
            .find(|event| event.position == position)
            .ok_or_else(|| {
                Trouble::Unavailable(format!(
                    "the event at position {position} does not read back"
                ))
            })
    }

    /// Moves the stored checkpoint to the acknowledged prefix.
    async fn save(&mut self) -> Result<(), Trouble> {
        if self.acked <= self.saved {
            return Ok(());
        }
        let key = P::checkpoint_key();
        match self
            .store
            .move_checkpoint(&key, self.saved, self.acked)
            .await
        {
            Ok(true) => {
                self.saved = self.acked;
                Ok(())
            }
            Ok(false) => {
                // Another relay of this publisher moved it: both publish, the ids make that
                // harmless; go on from what is stored.
                tracing::warn!(publisher = P::NAME, "another relay moved the checkpoint");
                self.saved = self
                    .store
                    .checkpoint(&key)
                    .await
                    .map_err(|e| unavailable(&e))?;
                Ok(())
            }
            Err(error) => Err(unavailable(&error)),
        }
    }

    /// After a failed round: takes what is acknowledged, reports the trouble, and starts
    /// again after the acknowledged prefix.
    async fn recover(&mut self, trouble: Trouble, failures: u32) {
        let status = match trouble {
            Trouble::Unavailable(error) => {
                tracing::warn!(publisher = P::NAME, %error, attempts = failures, "relay retrying");
                RelayStatus::Retrying {
                    error,
                    attempts: failures,
                }
            }
            Trouble::Failed {
                position,
                stream_id,
                message,
            } => {
                // The messages before the failing one are sent: take their acknowledgements,
                // so that only the failing event is tried again.
                self.buffer.clear();
                self.in_flight.retain(|sent| sent.position < position);
                if let Err(Trouble::Unavailable(error)) = self.receive_all().await {
                    tracing::warn!(publisher = P::NAME, %error, "relay retrying");
                }
                tracing::warn!(publisher = P::NAME, position, %message, attempts = failures, "relay failing");
                RelayStatus::Failing(RelayFailure {
                    publisher: P::NAME,
                    position,
                    stream_id,
                    message,
                    attempts: failures,
                })
            }
        };
        self.shared.status.send_replace(status);
        self.in_flight.clear();
        self.streams_in_flight.clear();
        self.buffer.clear();
        self.read = self.acked;
        self.caught_up = false;
        let _ = self.save().await;
    }

    /// Waits for every acknowledgement in flight, in order, up to the first failure.
    pub(super) async fn receive_all(&mut self) -> Result<(), Trouble> {
        while !self.in_flight.is_empty() {
            self.receive(true).await?;
        }
        Ok(())
    }
}

/// The message `event` maps to, or why it has none (a mapping that fails or panics).
pub(super) fn map<P: Publisher>(
    publisher: &P,
    event: &RecordedEvent,
) -> Result<Option<OutgoingMessage>, String> {
    let mapped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        publisher.publish_recorded(event)
    }));
    match mapped {
        Ok(Ok(message)) => Ok(message.map(|m| OutgoingMessage::new(P::NAME, event, m))),
        Ok(Err(error)) => Err(format!("its mapping failed: {error}")),
        Err(panic) => Err(format!(
            "its mapping panicked: {}",
            crate::caught::panic_message(&panic)
        )),
    }
}

fn unavailable(error: &StoreError) -> Trouble {
    Trouble::Unavailable(format!("the store failed: {error}"))
}
