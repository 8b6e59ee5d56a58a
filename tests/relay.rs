//! The relay's contract, over the in-memory store and a scripted broker (the real brokers'
//! tests are in relay_jetstream.rs): what is published and with what envelope, where the
//! checkpoint stands, and what a broker failure or an unmappable event does.

mod messaging;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use annals::messaging::{
    Ack, Broker, BrokerError, OutgoingMessage, Publisher, Relay, RelayOptions, RelayStatus, headers,
};
use annals::store::{CheckpointStore, InMemoryStore};
use messaging::{OrderMessages, PUBLISHER, note, placed, record, shipped};
use tokio::sync::Notify;

const WAIT: Duration = Duration::from_secs(10);

/// A broker that keeps the messages it takes (once per id, in the order sent, as JetStream
/// does), and fails or holds the acknowledgements it is told to.
#[derive(Clone, Default)]
struct Scripted(Arc<Script>);

#[derive(Default)]
struct Script {
    /// Every send, in order.
    sends: Mutex<Vec<OutgoingMessage>>,
    /// What the broker holds: each id once.
    kept: Mutex<Vec<OutgoingMessage>>,
    /// Send numbers (0-based) whose message is lost and whose acknowledgement fails.
    lose: Mutex<HashSet<usize>>,
    /// Subjects the broker refuses for good.
    refuse_subject: Mutex<Option<String>>,
    /// Whether the first send's acknowledgement waits for `release`.
    hold_first: Mutex<bool>,
    release: Notify,
}

#[annals::async_trait]
impl Broker for Scripted {
    async fn send(&self, message: OutgoingMessage) -> Result<Ack, BrokerError> {
        let script = Arc::clone(&self.0);
        if script.refuse_subject.lock().unwrap().as_deref() == Some(message.subject.as_str()) {
            return Err(BrokerError::Rejected("no destination".into()));
        }
        let number = {
            let mut sends = script.sends.lock().unwrap();
            sends.push(message.clone());
            sends.len() - 1
        };
        if script.lose.lock().unwrap().contains(&number) {
            return Ok(Box::pin(async {
                Err(BrokerError::Unavailable("connection reset".into()))
            }));
        }
        {
            let mut kept = script.kept.lock().unwrap();
            if !kept.iter().any(|k| k.id == message.id) {
                kept.push(message);
            }
        }
        let hold = number == 0 && *script.hold_first.lock().unwrap();
        Ok(Box::pin(async move {
            if hold {
                script.release.notified().await;
            }
            Ok(())
        }))
    }
}

impl Scripted {
    fn kept(&self) -> Vec<OutgoingMessage> {
        self.0.kept.lock().unwrap().clone()
    }

    fn sends(&self) -> usize {
        self.0.sends.lock().unwrap().len()
    }
}

fn publisher(prefix: &str) -> OrderMessages {
    OrderMessages::new(prefix)
}

/// (stream id, stream version) of each message, in order.
fn streams(messages: &[OutgoingMessage]) -> Vec<(String, u64)> {
    messages
        .iter()
        .map(|m| {
            (
                m.header(headers::STREAM_ID).unwrap().to_owned(),
                m.header(headers::STREAM_VERSION).unwrap().parse().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn consumed_events_are_published_in_log_order_with_their_envelope_and_private_ones_stay() {
    let store = InMemoryStore::new();
    let broker = Scripted::default();
    let relay = Relay::new(store.clone(), broker.clone(), publisher("shop"))
        .spawn()
        .await
        .unwrap();
    record(&store, "1", vec![placed(10), note("fragile")]).await;
    let last = record(&store, "2", vec![placed(20), shipped("ups")]).await;
    relay.wait_for(last, WAIT).await.unwrap();

    let kept = broker.kept();
    let subjects: Vec<&str> = kept.iter().map(|m| m.subject.as_str()).collect();
    assert_eq!(subjects, ["shop.placed", "shop.placed", "shop.shipped"]);
    let first = &kept[0];
    assert_eq!(first.payload, br#"{"order_id":"1","total":10}"#);
    assert_eq!(first.header(headers::MESSAGE_TYPE), Some("OrderPlaced"));
    assert_eq!(first.header(headers::MESSAGE_VERSION), Some("1"));
    assert_eq!(first.header(headers::EVENT_TYPE), Some("Placed"));
    assert_eq!(first.header(headers::SCHEMA_VERSION), Some("1"));
    assert_eq!(first.header(headers::STREAM_ID), Some("order-1"));
    assert_eq!(first.header(headers::STREAM_VERSION), Some("1"));
    assert_eq!(
        first.header(headers::MESSAGE_ID),
        Some(first.id.to_string().as_str())
    );
    assert_eq!(kept[2].header("carrier"), Some("ups"));
    relay.stop().await;
}

#[tokio::test]
async fn the_message_id_is_the_same_at_every_publish_of_an_event() {
    let store = InMemoryStore::new();
    let broker = Scripted::default();
    let last = record(&store, "1", vec![placed(10)]).await;
    let relay = Relay::new(store.clone(), broker.clone(), publisher("shop"))
        .spawn()
        .await
        .unwrap();
    relay.wait_for(last, WAIT).await.unwrap();
    relay.stop().await;
    // Sent again from the start, as after a crash before the checkpoint moved.
    assert!(
        store
            .move_checkpoint(&OrderMessages::checkpoint_key(), last, 0)
            .await
            .unwrap()
    );
    let again = Relay::new(store.clone(), broker.clone(), publisher("shop"))
        .spawn()
        .await
        .unwrap();
    again.wait_for(last, WAIT).await.unwrap();
    again.stop().await;

    let sends = broker.0.sends.lock().unwrap().clone();
    assert_eq!(sends.len(), 2);
    assert_eq!(sends[0].id, sends[1].id);
    assert_eq!(broker.kept().len(), 1);
}

#[tokio::test]
async fn the_checkpoint_moves_only_over_acknowledged_messages() {
    let store = InMemoryStore::new();
    let broker = Scripted::default();
    *broker.0.hold_first.lock().unwrap() = true;
    record(&store, "1", vec![placed(1)]).await;
    let last = record(&store, "2", vec![placed(2)]).await;
    let relay = Relay::new(store.clone(), broker.clone(), publisher("shop"))
        .spawn()
        .await
        .unwrap();
    // Both are sent; the first is not acknowledged, so neither counts as published.
    while broker.sends() < 2 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(relay.published_through(), 0);
    assert_eq!(
        store
            .checkpoint(&OrderMessages::checkpoint_key())
            .await
            .unwrap(),
        0
    );

    broker.0.release.notify_one();
    relay.wait_for(last, WAIT).await.unwrap();
    relay.stop().await;
    assert_eq!(
        store
            .checkpoint(&OrderMessages::checkpoint_key())
            .await
            .unwrap(),
        last
    );
}

#[tokio::test]
async fn a_lost_message_is_sent_again_and_no_stream_is_reordered() {
    let store = InMemoryStore::new();
    let broker = Scripted::default();
    // The third send is lost in a broken connection while later ones pass.
    broker.0.lose.lock().unwrap().insert(2);
    let options =
        RelayOptions::default().with_backoff(Duration::from_millis(5), Duration::from_millis(20));
    let mut last = 0;
    for round in 0..5 {
        for order in ["a", "b", "c"] {
            last = record(&store, order, vec![placed(round)]).await;
        }
    }
    let relay = Relay::new(store.clone(), broker.clone(), publisher("shop"))
        .with_options(options)
        .spawn()
        .await
        .unwrap();
    relay.wait_for(last, WAIT).await.unwrap();
    relay.stop().await;

    let kept = streams(&broker.kept());
    assert_eq!(kept.len(), 15, "each event once: {kept:?}");
    for order in ["order-a", "order-b", "order-c"] {
        let versions: Vec<u64> = kept
            .iter()
            .filter(|(s, _)| s == order)
            .map(|(_, v)| *v)
            .collect();
        assert_eq!(versions, [1, 2, 3, 4, 5], "{order} in order");
    }
}

fn fast() -> RelayOptions {
    RelayOptions::default()
        .with_backoff(Duration::from_millis(5), Duration::from_millis(20))
        .with_poll_interval(Duration::from_millis(10))
}

/// (position, parked) of each dead letter.
async fn letters(relay: &annals::messaging::RelayHandle) -> Vec<(u64, bool)> {
    relay
        .dead_letters()
        .await
        .unwrap()
        .iter()
        .map(|l| (l.position.unwrap(), l.parked))
        .collect()
}

#[tokio::test]
async fn an_unmappable_event_parks_its_stream_and_the_others_flow() {
    let store = InMemoryStore::new();
    let broker = Scripted::default();
    record(&store, "1", vec![placed(1)]).await;
    let bad = record(&store, "1", vec![shipped("nobody")]).await;
    let behind = record(&store, "1", vec![placed(2)]).await;
    let other = record(&store, "2", vec![placed(3)]).await;
    let relay = Relay::new(store.clone(), broker.clone(), publisher("shop"))
        .with_options(fast())
        .spawn()
        .await
        .unwrap();
    relay.wait_for(other, WAIT).await.unwrap();

    assert_eq!(
        streams(&broker.kept()),
        [("order-1".into(), 1), ("order-2".into(), 1)]
    );
    assert_eq!(letters(&relay).await, [(bad, false), (behind, true)]);
    let first = &relay.dead_letters().await.unwrap()[0];
    assert!(first.error.contains("nobody"), "{}", first.error);
    assert_eq!(first.stream_id.as_deref(), Some("order-1"));
    assert_eq!(relay.status(), RelayStatus::Running);
    relay.stop().await;
}

#[tokio::test]
async fn a_replay_after_the_fix_delivers_the_parked_stream_in_order_and_it_flows_again() {
    let store = InMemoryStore::new();
    let broker = Scripted::default();
    let publisher = publisher("shop");
    let fixed = std::sync::Arc::clone(&publisher.fixed);
    record(&store, "1", vec![placed(1), shipped("nobody"), placed(2)]).await;
    let relay = Relay::new(store.clone(), broker.clone(), publisher)
        .with_options(fast())
        .spawn()
        .await
        .unwrap();
    let head = record(&store, "2", vec![placed(3)]).await;
    relay.wait_for(head, WAIT).await.unwrap();
    assert_eq!(letters(&relay).await.len(), 2);

    // Still broken: nothing is published, and both letters stay.
    let refused = relay.replay("order-1").await.unwrap_err();
    assert!(refused.to_string().contains("nobody"), "{refused}");
    assert_eq!(letters(&relay).await.len(), 2);

    fixed.store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(relay.replay("order-1").await.unwrap(), 2);
    assert!(letters(&relay).await.is_empty());
    let next = record(&store, "1", vec![placed(4)]).await;
    relay.wait_for(next, WAIT).await.unwrap();
    let order_1: Vec<u64> = streams(&broker.kept())
        .into_iter()
        .filter(|(stream, _)| stream == "order-1")
        .map(|(_, version)| version)
        .collect();
    assert_eq!(order_1, [1, 2, 3, 4], "the stream's messages in order");
    relay.stop().await;
}

#[tokio::test]
async fn a_message_the_broker_refuses_is_a_dead_letter() {
    let store = InMemoryStore::new();
    let broker = Scripted::default();
    *broker.0.refuse_subject.lock().unwrap() = Some("shop.shipped".into());
    record(&store, "1", vec![placed(1)]).await;
    let refused = record(&store, "1", vec![shipped("ups")]).await;
    let relay = Relay::new(store.clone(), broker.clone(), publisher("shop"))
        .with_options(fast())
        .spawn()
        .await
        .unwrap();
    relay.wait_for(refused, WAIT).await.unwrap();
    let letters = relay.dead_letters().await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].position, Some(refused));
    assert!(letters[0].error.contains("refused"), "{}", letters[0].error);
    relay.stop().await;
}

#[tokio::test]
async fn discarding_a_streams_last_letter_lets_it_flow_again() {
    let store = InMemoryStore::new();
    let broker = Scripted::default();
    record(&store, "1", vec![placed(1), shipped("nobody")]).await;
    let relay = Relay::new(store.clone(), broker.clone(), publisher("shop"))
        .with_options(fast())
        .spawn()
        .await
        .unwrap();
    let parked = record(&store, "1", vec![placed(2)]).await;
    relay.wait_for(parked, WAIT).await.unwrap();
    for letter in relay.dead_letters().await.unwrap() {
        assert!(relay.discard(letter.id).await.unwrap());
    }
    let next = record(&store, "1", vec![placed(3)]).await;
    relay.wait_for(next, WAIT).await.unwrap();
    assert_eq!(
        streams(&broker.kept()),
        [("order-1".into(), 1), ("order-1".into(), 4)]
    );
    relay.stop().await;
}

#[tokio::test]
async fn a_parked_stream_stays_parked_across_a_restart() {
    let store = InMemoryStore::new();
    let broker = Scripted::default();
    let bad = record(&store, "1", vec![shipped("nobody")]).await;
    let relay = Relay::new(store.clone(), broker.clone(), publisher("shop"))
        .spawn()
        .await
        .unwrap();
    relay.wait_for(bad, WAIT).await.unwrap();
    relay.stop().await;
    let later = record(&store, "1", vec![placed(1)]).await;
    let relay = Relay::new(store.clone(), broker.clone(), publisher("shop"))
        .spawn()
        .await
        .unwrap();
    relay.wait_for(later, WAIT).await.unwrap();
    assert_eq!(letters(&relay).await, [(bad, false), (later, true)]);
    assert!(broker.kept().is_empty());
    relay.stop().await;
}

#[tokio::test]
async fn a_restarted_relay_resumes_from_its_checkpoint() {
    let store = InMemoryStore::new();
    let broker = Scripted::default();
    let first = record(&store, "1", vec![placed(1), placed(2)]).await;
    let relay = Relay::new(store.clone(), broker.clone(), publisher("shop"))
        .spawn()
        .await
        .unwrap();
    relay.wait_for(first, WAIT).await.unwrap();
    relay.stop().await;
    let second = record(&store, "1", vec![placed(3)]).await;
    let relay = Relay::new(store.clone(), broker.clone(), publisher("shop"))
        .spawn()
        .await
        .unwrap();
    relay.wait_for(second, WAIT).await.unwrap();
    relay.stop().await;
    assert_eq!(broker.sends(), 3, "nothing checkpointed is sent again");
    assert_eq!(
        store
            .checkpoint(&format!("relay:{PUBLISHER}"))
            .await
            .unwrap(),
        second
    );
}
