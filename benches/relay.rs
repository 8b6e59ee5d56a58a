//! Relay throughput to NATS JetStream, beside the raw client doing the same work
//! (issue: messaging, "relay throughput to JetStream vs the floor").
//!
//! `cargo bench --bench relay` (`-- --quick` for fewer events, `--streams N` to change how
//! many streams the events spread over). The log (in memory, written before the clock
//! starts) holds `EVENTS` consumed events over `--streams` streams, round-robin. Each round
//! relays all of them into a fresh JetStream stream on the local server, from checkpoint 0
//! until the last is acknowledged. The floor publishes the same messages (same subjects,
//! payloads and headers, `Nats-Msg-Id` included) with raw async-nats, at most as many
//! acknowledgements outstanding as the relay's window, in the same run. Rounds alternate.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use annals::messaging::nats::JetStreamBroker;
use annals::messaging::{
    MappingError, Message, OutgoingMessage, Publish, Publisher, Relay, RelayOptions,
};
use annals::store::{EventStore, ExpectedVersion, InMemoryStore, Metadata, RecordedEvent};
use annals::{Event, Recorded};
use async_nats::jetstream;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Placed {
    total: i64,
    lines: u32,
}

#[derive(Event, Clone, Debug, PartialEq)]
enum OrderEvent {
    Placed(Placed),
}

#[derive(Publisher)]
#[publisher(name = "bench_orders", events(OrderEvent))]
struct OrderMessages {
    prefix: String,
}

#[derive(Serialize)]
struct OrderPlacedV1<'a> {
    order_id: &'a str,
    total: i64,
    lines: u32,
}

impl Publish<Placed> for OrderMessages {
    fn publish(&self, placed: Recorded<'_, Placed>) -> Result<Option<Message>, MappingError> {
        let public = OrderPlacedV1 {
            order_id: placed.stream_id,
            total: placed.total,
            lines: placed.lines,
        };
        Ok(Some(Message::json(
            format!("{}.placed", self.prefix),
            "OrderPlaced",
            1,
            &public,
        )?))
    }
}

const WINDOW: usize = 1_000;

fn url() -> String {
    std::env::var("NATS_URL").unwrap_or_else(|_| "127.0.0.1:4222".into())
}

async fn stream(context: &jetstream::Context, name: &str) {
    let _ = context.delete_stream(name).await;
    context
        .create_stream(jetstream::stream::Config {
            name: name.to_owned(),
            subjects: vec![format!("{}.>", name.to_lowercase())],
            ..Default::default()
        })
        .await
        .expect("create the stream");
}

/// The floor: raw async-nats publishing `messages`, `WINDOW` acknowledgements outstanding
/// at most, all awaited.
async fn raw(context: &jetstream::Context, messages: &[OutgoingMessage]) -> Duration {
    let started = Instant::now();
    let mut acks = VecDeque::with_capacity(WINDOW);
    for message in messages {
        if acks.len() >= WINDOW {
            let ack: jetstream::context::PublishAckFuture = acks.pop_front().unwrap();
            ack.await.expect("acknowledged");
        }
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", message.id.to_string());
        for (name, value) in &message.headers {
            headers.insert(name.as_str(), value.as_str());
        }
        let ack = context
            .publish_with_headers(
                message.subject.clone(),
                headers,
                message.payload.clone().into(),
            )
            .await
            .expect("sent");
        acks.push_back(ack);
    }
    for ack in acks {
        ack.await.expect("acknowledged");
    }
    started.elapsed()
}

/// annals: a relay from checkpoint 0 until the last event is acknowledged.
async fn relayed(store: &InMemoryStore, name: &str, head: u64) -> Duration {
    let broker = JetStreamBroker::connect(&url(), name, [format!("{}.>", name.to_lowercase())])
        .await
        .expect("connect");
    let publisher = OrderMessages {
        prefix: name.to_lowercase(),
    };
    let store = store.clone();
    let started = Instant::now();
    let relay = Relay::new(store, broker, publisher)
        .with_options(RelayOptions::default().with_max_in_flight(WINDOW))
        .spawn()
        .await
        .expect("spawn");
    relay
        .wait_for(head, Duration::from_secs(120))
        .await
        .expect("relayed");
    let took = started.elapsed();
    relay.stop().await;
    took
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let streams: usize = args
        .iter()
        .position(|a| a == "--streams")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000);
    let events: usize = if quick { 5_000 } else { 50_000 };
    let rounds = if quick { 2 } else { 3 };
    let client = match async_nats::connect(url()).await {
        Ok(client) => client,
        Err(error) => {
            eprintln!(
                "relay bench: NATS unreachable at {} ({error}); start it",
                url()
            );
            return;
        }
    };
    let context = jetstream::new(client);

    // The log, and the messages the floor sends: the relay's own, built the same way.
    let mut rows: Vec<RecordedEvent> = Vec::with_capacity(events);
    let mut head = 0;
    let store = InMemoryStore::new();
    for i in 0..events {
        let event = OrderEvent::Placed(Placed {
            total: i as i64,
            lines: 3,
        });
        let new = event.to_new_event(Metadata::default()).unwrap();
        let appended = store
            .append(
                &format!("order-{}", i % streams),
                ExpectedVersion::Any,
                vec![new],
            )
            .await
            .unwrap();
        head = appended.last_position();
    }
    store
        .visit_all(
            0,
            usize::MAX,
            &annals::store::EventFilter::default(),
            &mut |e| {
                rows.push(e.clone());
                std::ops::ControlFlow::Continue(())
            },
        )
        .await
        .unwrap();

    println!(
        "relay → JetStream: {events} events over {streams} streams, window {WINDOW}, {rounds} rounds"
    );
    let mut ratios = Vec::new();
    for round in 0..rounds {
        let floor_name = format!("BENCH_RELAY_FLOOR_{}_{round}", std::process::id());
        stream(&context, &floor_name).await;
        let floor_publisher = OrderMessages {
            prefix: floor_name.to_lowercase(),
        };
        let messages: Vec<OutgoingMessage> = rows
            .iter()
            .map(|row| {
                let message = floor_publisher.publish_recorded(row).unwrap().unwrap();
                OutgoingMessage::new(OrderMessages::NAME, row, message)
            })
            .collect();
        let floor = raw(&context, &messages).await;
        let _ = context.delete_stream(&floor_name).await;

        let name = format!("BENCH_RELAY_{}_{round}", std::process::id());
        stream(&context, &name).await;
        let annals = relayed(&store, &name, head).await;
        let _ = context.delete_stream(&name).await;
        // The next round starts from checkpoint 0 again.
        use annals::store::CheckpointStore;
        store
            .move_checkpoint(&OrderMessages::checkpoint_key(), head, 0)
            .await
            .unwrap();

        let rate = |took: Duration| events as f64 / took.as_secs_f64();
        let ratio = rate(annals) / rate(floor);
        ratios.push(ratio);
        println!(
            "round {round}: floor {:>9.0} msg/s   annals {:>9.0} msg/s   ratio {ratio:.2}",
            rate(floor),
            rate(annals)
        );
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "median ratio annals / floor: {:.2}",
        ratios[ratios.len() / 2]
    );
}
