//! The relay against NATS JetStream, on real servers: the shared one, and a private
//! `nats-server` a test kills and starts again. Each test its own stream and subjects.

mod messaging;
mod services;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use annals::messaging::Consumer;
use annals::messaging::nats::{JetStreamBroker, JetStreamSource};
use annals::messaging::{Publisher, Relay, RelayOptions, RelayStatus, headers};
use annals::store::{CheckpointStore, EventStore, InMemoryStore};
use async_nats::jetstream;
use messaging::{OrderMessages, note, placed, record, shipped};
use services::nats::{
    PrivateNats, fresh_name, header, nats_url, shared_jetstream, stream_messages,
};

const WAIT: Duration = Duration::from_secs(60);

/// The stream versions of `messages`, per stream id, in the JetStream stream's order;
/// fails when a message id is there twice.
fn versions_by_stream(messages: &[jetstream::message::StreamMessage]) -> HashMap<String, Vec<u64>> {
    let ids: HashSet<&str> = messages
        .iter()
        .map(|m| header(m, headers::MESSAGE_ID).unwrap())
        .collect();
    assert_eq!(ids.len(), messages.len(), "no message twice in the stream");
    let mut versions: HashMap<String, Vec<u64>> = HashMap::new();
    for message in messages {
        let version = header(message, headers::STREAM_VERSION)
            .unwrap()
            .parse()
            .unwrap();
        versions
            .entry(header(message, headers::STREAM_ID).unwrap().to_owned())
            .or_default()
            .push(version);
    }
    versions
}

/// A stream over `{prefix}.>` and the publisher for it.
fn stream_config(name: &str) -> (jetstream::stream::Config, OrderMessages) {
    let prefix = name.to_lowercase();
    let config = jetstream::stream::Config {
        name: name.to_owned(),
        subjects: vec![format!("{prefix}.>")],
        ..Default::default()
    };
    (config, OrderMessages::new(prefix))
}

#[tokio::test]
async fn messages_reach_jetstream_once_with_their_id_and_envelope() {
    let Some(context) = shared_jetstream().await else {
        return;
    };
    let name = fresh_name("RELAY");
    let (config, publisher) = stream_config(&name);
    let store = InMemoryStore::new();
    record(&store, "1", vec![placed(10), note("private")]).await;
    let last = record(&store, "1", vec![shipped("ups")]).await;
    let broker = JetStreamBroker::connect(&nats_url(), &name, config.subjects.clone())
        .await
        .unwrap();
    let relay = Relay::new(store.clone(), broker, publisher)
        .spawn()
        .await
        .unwrap();
    relay.wait_for(last, WAIT).await.unwrap();
    relay.stop().await;

    let messages = stream_messages(&context, &name).await;
    assert_eq!(messages.len(), 2, "the private event stays");
    let placed_message = &messages[0];
    assert_eq!(
        placed_message.subject.as_str(),
        format!("{}.placed", name.to_lowercase())
    );
    assert_eq!(
        &placed_message.payload[..],
        br#"{"order_id":"1","total":10}"#
    );
    let id = header(placed_message, headers::MESSAGE_ID).unwrap();
    assert_eq!(header(placed_message, "Nats-Msg-Id"), Some(id));
    assert_eq!(header(placed_message, headers::EVENT_TYPE), Some("Placed"));
    assert_eq!(header(placed_message, headers::STREAM_ID), Some("order-1"));
    assert_eq!(header(placed_message, headers::STREAM_VERSION), Some("1"));
    assert_eq!(header(&messages[1], headers::STREAM_VERSION), Some("3"));
    assert_eq!(header(&messages[1], "carrier"), Some("ups"));

    // Sent again from the start, as after a crash before the checkpoint moved: JetStream
    // recognises each message by its id.
    store
        .move_checkpoint(&OrderMessages::checkpoint_key(), last, 0)
        .await
        .unwrap();
    let (_, publisher) = stream_config(&name);
    let broker = JetStreamBroker::connect(&nats_url(), &name, config.subjects.clone())
        .await
        .unwrap();
    let again = Relay::new(store.clone(), broker, publisher)
        .spawn()
        .await
        .unwrap();
    again.wait_for(last, WAIT).await.unwrap();
    again.stop().await;
    assert_eq!(stream_messages(&context, &name).await.len(), 2);
    context.delete_stream(&name).await.unwrap();
}

#[tokio::test]
async fn a_broker_killed_and_restarted_mid_run_loses_nothing_and_keeps_each_streams_order() {
    let Some(mut server) = PrivateNats::start().await else {
        return;
    };
    let name = fresh_name("KILLED");
    let (config, publisher) = stream_config(&name);
    let client = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .connect(server.url())
        .await
        .unwrap();
    // Acknowledgements that cannot come (the server is gone) are given up after a second.
    let context = jetstream::ContextBuilder::new()
        .timeout(Duration::from_secs(1))
        .build(client);
    let broker = JetStreamBroker::new(context.clone(), config);
    let store = InMemoryStore::new();
    let options = RelayOptions::default()
        .with_backoff(Duration::from_millis(20), Duration::from_millis(500))
        .with_poll_interval(Duration::from_millis(20));
    let relay = Relay::new(store.clone(), broker, publisher)
        .with_options(options)
        .spawn()
        .await
        .unwrap();

    // Commands go on while the broker dies and comes back.
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut last = 0;
            for round in 0..120 {
                for order in ["a", "b", "c", "d"] {
                    last = record(&store, order, vec![placed(round)]).await;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            last
        })
    };
    while relay.published_through() < 100 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.kill();
    // The relay sees the broker gone, and says so.
    let mut seen = None;
    for _ in 0..300 {
        if let RelayStatus::Retrying { error, .. } = relay.status() {
            seen = Some(error);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let error = seen.expect("the relay reports the broker unavailable");
    eprintln!("while the broker was down: {error}");
    server.restart().await;
    let last = writer.await.unwrap();
    relay.wait_for(last, WAIT).await.unwrap();
    relay.stop().await;

    let messages = stream_messages(&context, &name).await;
    let versions = versions_by_stream(&messages);
    assert_eq!(messages.len(), 480, "every event once");
    for (stream, versions) in versions {
        assert_eq!(
            versions,
            (1..=120).collect::<Vec<u64>>(),
            "{stream} in order"
        );
    }
}

/// Run in a child process by `a_relay_killed_20_times_while_commands_run_...`: relays the
/// orders of the SQLite file `ANNALS_RELAY_DB` into the JetStream stream
/// `ANNALS_RELAY_STREAM` until killed.
#[tokio::test]
#[ignore = "the child process of a_relay_killed_20_times_while_commands_run_delivers_each_event_once_in_order"]
async fn relay_child() {
    let (Ok(path), Ok(name)) = (
        std::env::var("ANNALS_RELAY_DB"),
        std::env::var("ANNALS_RELAY_STREAM"),
    ) else {
        return;
    };
    let (config, publisher) = stream_config(&name);
    let store = annals::store::SqliteStore::open(&path).unwrap();
    let broker = JetStreamBroker::connect(&nats_url(), &name, config.subjects)
        .await
        .unwrap();
    let options = RelayOptions::default()
        .with_max_in_flight(64)
        .with_poll_interval(Duration::from_millis(10));
    let _relay = Relay::new(store, broker, publisher)
        .with_options(options)
        .spawn()
        .await
        .unwrap();
    std::future::pending::<()>().await;
}

/// The relay's process SIGKILLed at random points 20 times while commands run: every event
/// is in the stream once, each stream's in order (what was not checkpointed is sent again,
/// and JetStream drops what it already has by message id), and reaches a consumer's effect
/// once, in order.
#[tokio::test]
async fn a_relay_killed_20_times_while_commands_run_delivers_each_event_once_in_order() {
    let Some(context) = shared_jetstream().await else {
        return;
    };
    let name = fresh_name("RELAYKILLED");
    let path = services::sqlite_path("relay-killed");
    let store = annals::store::SqliteStore::open(&path).unwrap();
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut round = 0;
            loop {
                for order in ["a", "b", "c", "d", "e"] {
                    record(&store, order, vec![placed(round)]).await;
                }
                round += 1;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    let mut published_before_kills = Vec::new();
    for _ in 0..20 {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--ignored", "--exact", "relay_child", "--test-threads=1"])
            .env("ANNALS_RELAY_DB", &path)
            .env("ANNALS_RELAY_STREAM", &name)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        tokio::time::sleep(services::jitter() + Duration::from_millis(100)).await;
        child.kill().unwrap();
        child.wait().unwrap();
        published_before_kills.push(
            store
                .checkpoint(&OrderMessages::checkpoint_key())
                .await
                .unwrap(),
        );
    }
    writer.abort();
    let _ = writer.await;
    let head = annals::store::EventStore::head_position(&store)
        .await
        .unwrap();

    // A last relay, left to finish.
    let (config, publisher) = stream_config(&name);
    let broker = JetStreamBroker::connect(&nats_url(), &name, config.subjects)
        .await
        .unwrap();
    let relay = Relay::new(store.clone(), broker, publisher)
        .spawn()
        .await
        .unwrap();
    relay.wait_for(head, WAIT).await.unwrap();
    relay.stop().await;

    eprintln!("checkpoints after each kill: {published_before_kills:?}; head {head}");
    assert!(
        published_before_kills
            .windows(2)
            .filter(|w| w[1] > w[0])
            .count()
            >= 10,
        "the killed relays made progress: {published_before_kills:?}"
    );
    let messages = stream_messages(&context, &name).await;
    let versions = versions_by_stream(&messages);
    assert_eq!(messages.len() as u64, head, "every event once");
    let per_stream: HashMap<String, u64> = versions
        .iter()
        .map(|(stream, versions)| (stream.to_string(), versions.len() as u64))
        .collect();
    for (stream, versions) in versions {
        let expected: Vec<u64> = (1..=versions.len() as u64).collect();
        assert_eq!(versions, expected, "{stream} in order");
    }

    // And into a consumer's effect: each placement becomes one shipment, each order's in
    // the order placed (the payload's total is the round it was placed in).
    let shipping = InMemoryStore::new();
    let source = JetStreamSource::durable(
        &context,
        &name,
        "shipping",
        &format!("{}.placed", name.to_lowercase()),
    )
    .await
    .unwrap();
    let handler = messaging::shipping::RecordShipments {
        shipments: annals::Repository::new(shipping.clone()),
    };
    let consumer = Consumer::new(source, handler, shipping.clone()).spawn();
    let status = consumer.wait_handled(head, WAIT).await;
    assert_eq!(status.handled, head, "{status:?}");
    consumer.stop().await;
    for (stream, count) in per_stream {
        let order = stream.trim_start_matches("order-");
        let shipments = shipping
            .read_stream(&format!("shipments-{order}"), 1, usize::MAX)
            .await
            .unwrap();
        assert_eq!(
            shipments.len() as u64,
            count,
            "order {order}: each event's effect once"
        );
        let totals: Vec<i64> = shipments
            .iter()
            .map(|e| {
                serde_json::from_slice::<serde_json::Value>(&e.payload).unwrap()["total"]
                    .as_i64()
                    .unwrap()
            })
            .collect();
        let expected: Vec<i64> = (0..count as i64).collect();
        assert_eq!(
            totals, expected,
            "order {order}: effects in the order placed"
        );
    }
    context.delete_stream(&name).await.unwrap();
}

/// A poison event parks its stream only: the other streams reach JetStream; replayed after
/// the fix, it and the events parked behind it arrive in order, and the stream flows on.
#[tokio::test]
async fn a_poison_event_parks_its_stream_only_and_a_replay_after_the_fix_delivers_it_in_order() {
    let Some(context) = shared_jetstream().await else {
        return;
    };
    let name = fresh_name("POISON");
    let (config, publisher) = stream_config(&name);
    let fixed = std::sync::Arc::clone(&publisher.fixed);
    let store = InMemoryStore::new();
    record(&store, "a", vec![placed(1), shipped("nobody"), placed(2)]).await;
    let last = record(&store, "b", vec![placed(3), placed(4)]).await;
    let broker = JetStreamBroker::connect(&nats_url(), &name, config.subjects.clone())
        .await
        .unwrap();
    let relay = Relay::new(store.clone(), broker, publisher)
        .spawn()
        .await
        .unwrap();
    relay.wait_for(last, WAIT).await.unwrap();
    let versions = |messages: &[jetstream::message::StreamMessage], stream: &str| -> Vec<u64> {
        versions_by_stream(messages)
            .remove(stream)
            .unwrap_or_default()
    };
    let before = stream_messages(&context, &name).await;
    assert_eq!(
        versions(&before, "order-a"),
        [1],
        "parked behind its poison event"
    );
    assert_eq!(versions(&before, "order-b"), [1, 2], "other streams flow");
    assert_eq!(relay.dead_letters().await.unwrap().len(), 2);

    fixed.store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(relay.replay("order-a").await.unwrap(), 2);
    let next = record(&store, "a", vec![placed(5)]).await;
    relay.wait_for(next, WAIT).await.unwrap();
    relay.stop().await;
    let after = stream_messages(&context, &name).await;
    assert_eq!(versions(&after, "order-a"), [1, 2, 3, 4]);
    assert!(
        header(&after[after.len() - 3], headers::MESSAGE_TYPE) == Some("OrderShipped"),
        "the poison event, fixed, first"
    );
    context.delete_stream(&name).await.unwrap();
}

/// A message over the server's payload limit is refused for good: a dead letter that parks
/// its stream, while other streams reach JetStream.
#[tokio::test]
async fn a_message_over_the_servers_payload_limit_is_a_dead_letter() {
    let Some(context) = shared_jetstream().await else {
        return;
    };
    let name = fresh_name("TOOBIG");
    let (config, publisher) = stream_config(&name);
    let store = InMemoryStore::new();
    let huge = "x".repeat(2 * 1024 * 1024);
    let too_big = record(&store, "a", vec![shipped(&huge)]).await;
    let last = record(&store, "b", vec![placed(1)]).await;
    let broker = JetStreamBroker::connect(&nats_url(), &name, config.subjects.clone())
        .await
        .unwrap();
    let relay = Relay::new(store.clone(), broker, publisher)
        .spawn()
        .await
        .unwrap();
    relay.wait_for(last, WAIT).await.unwrap();
    let letters = relay.dead_letters().await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].position, Some(too_big));
    assert!(letters[0].error.contains("refused"), "{}", letters[0].error);
    let messages = stream_messages(&context, &name).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(header(&messages[0], headers::STREAM_ID), Some("order-b"));
    relay.stop().await;
    context.delete_stream(&name).await.unwrap();
}
