//! Criterion benchmarks of the core: apply dispatch, hydration from the in-memory store, and
//! decoding through upcast chains. What each group measures, how to run it and the figures
//! of the last recorded run are in `benches/README.md`.
//!
//! Every figure has a floor measured in the same run, in the same group:
//!
//! - `dispatch`: the derive's `Aggregate::apply_event` vs a hand-written `match` over the same
//!   enum calling the same `Apply` handlers;
//! - `hydrate`: `Repository::load_from_events` vs its parts (`read_stream`, decode + apply) and
//!   their floors (cloning the records, decoding with `serde_json` and a hand-written `match`);
//! - `upcast`: `Event::decode` of a v1 payload (typed and raw chains) vs a v3 payload, and
//!   `serde_json::from_slice` of each payload type alone.

use std::hint::black_box;

use annals::store::{
    EventStore, ExpectedVersion, InMemoryStore, Metadata, NewEvent, RecordedEvent,
};
use annals::{Aggregate, Apply, Event, Repository, UpcastError};
use annals_examples::bank::{Account, AccountEvent, Closed, Deposited, Opened, Withdrawn};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde::{Deserialize, Serialize};

/// Events per fold (dispatch) and per stream (hydrate).
const EVENTS: usize = 10_000;

/// A small deterministic generator (xorshift64*), so every run folds the same sequence and
/// the variant order is irregular enough that the branch predictor cannot learn it outright.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

// ---------------------------------------------------------------------------------------
// dispatch: generated `apply_event` vs a hand-written `match`
// ---------------------------------------------------------------------------------------

mod ledger {
    use super::*;

    #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
    pub struct Credited {
        pub amount: i64,
    }

    #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
    pub struct Debited {
        pub amount: i64,
    }

    #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
    pub struct InterestAccrued {
        pub basis_points: i64,
    }

    #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
    pub struct FeeCharged {
        pub amount: i64,
    }

    #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
    pub struct LimitChanged {
        pub limit: i64,
    }

    #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
    pub struct Frozen {
        pub frozen: bool,
    }

    #[derive(Event, Clone, Debug, PartialEq)]
    pub enum LedgerEvent {
        Credited(Credited),
        Debited(Debited),
        InterestAccrued(InterestAccrued),
        FeeCharged(FeeCharged),
        LimitChanged(LimitChanged),
        Frozen(Frozen),
    }

    #[derive(Debug, thiserror::Error)]
    #[error("ledger error")]
    pub struct LedgerError;

    #[derive(Aggregate, Default, Clone, Debug, PartialEq)]
    #[aggregate(event = LedgerEvent, error = LedgerError)]
    pub struct Ledger {
        pub balance: i64,
        pub interest: i64,
        pub fees: i64,
        pub limit: i64,
        pub frozen: bool,
        pub operations: u64,
    }

    impl Apply<Credited> for Ledger {
        fn apply(&mut self, event: &Credited) {
            self.balance += event.amount;
            self.operations += 1;
        }
    }

    impl Apply<Debited> for Ledger {
        fn apply(&mut self, event: &Debited) {
            self.balance -= event.amount;
            self.operations += 1;
        }
    }

    impl Apply<InterestAccrued> for Ledger {
        fn apply(&mut self, event: &InterestAccrued) {
            self.interest += self.balance.max(0) * event.basis_points / 10_000;
        }
    }

    impl Apply<FeeCharged> for Ledger {
        fn apply(&mut self, event: &FeeCharged) {
            self.balance -= event.amount;
            self.fees += event.amount;
        }
    }

    impl Apply<LimitChanged> for Ledger {
        fn apply(&mut self, event: &LimitChanged) {
            self.limit = event.limit.max(0);
        }
    }

    impl Apply<Frozen> for Ledger {
        fn apply(&mut self, event: &Frozen) {
            self.frozen = event.frozen;
        }
    }

    /// The `match` the derive saves users from writing: the same arms, the same handlers.
    #[inline]
    pub fn apply_by_hand(state: &mut Ledger, event: &LedgerEvent) {
        match event {
            LedgerEvent::Credited(e) => Apply::<Credited>::apply(state, e),
            LedgerEvent::Debited(e) => Apply::<Debited>::apply(state, e),
            LedgerEvent::InterestAccrued(e) => Apply::<InterestAccrued>::apply(state, e),
            LedgerEvent::FeeCharged(e) => Apply::<FeeCharged>::apply(state, e),
            LedgerEvent::LimitChanged(e) => Apply::<LimitChanged>::apply(state, e),
            LedgerEvent::Frozen(e) => Apply::<Frozen>::apply(state, e),
        }
    }

    /// A mixed sequence: mostly credits and debits, the other variants now and then.
    pub fn events(count: usize) -> Vec<LedgerEvent> {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        (0..count)
            .map(|_| {
                let amount = 1 + rng.below(50_000) as i64;
                match rng.below(100) {
                    0..40 => Credited { amount }.into(),
                    40..70 => Debited { amount }.into(),
                    70..80 => InterestAccrued {
                        basis_points: 1 + rng.below(50) as i64,
                    }
                    .into(),
                    80..90 => FeeCharged {
                        amount: amount / 100,
                    }
                    .into(),
                    90..95 => LimitChanged { limit: amount * 10 }.into(),
                    _ => Frozen {
                        frozen: rng.below(2) == 0,
                    }
                    .into(),
                }
            })
            .collect()
    }
}

/// Folds through the derive: `Aggregate::apply_event` → `ApplyTo::apply_to` → `Apply::apply`.
/// Not inlined, so both folds are compiled as functions of the same shape. When the derive
/// adds nothing, they compile to identical machine code and the linker may fold them into one
/// function (it does with rustc 1.95: `nm -C` shows both names at one address).
#[inline(never)]
fn fold_generated(events: &[ledger::LedgerEvent]) -> ledger::Ledger {
    let mut state = ledger::Ledger::default();
    for event in events {
        state.apply_event(event);
    }
    state
}

/// Folds through the hand-written `match`.
#[inline(never)]
fn fold_by_hand(events: &[ledger::LedgerEvent]) -> ledger::Ledger {
    let mut state = ledger::Ledger::default();
    for event in events {
        ledger::apply_by_hand(&mut state, event);
    }
    state
}

fn dispatch(c: &mut Criterion) {
    let events = ledger::events(EVENTS);
    assert_eq!(fold_generated(&events), fold_by_hand(&events));

    let mut group = c.benchmark_group("dispatch");
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.bench_function("generated_apply_event", |b| {
        b.iter(|| fold_generated(black_box(&events)))
    });
    group.bench_function("hand_written_match", |b| {
        b.iter(|| fold_by_hand(black_box(&events)))
    });
    group.finish();
}

// ---------------------------------------------------------------------------------------
// hydrate: 10,000 bank events from the in-memory store
// ---------------------------------------------------------------------------------------

const ACCOUNT: &str = "bench";

/// The bank stream: an opening, then deposits (with a transfer reference) and withdrawals,
/// all at their current schema version, with the correlation and causation ids the command
/// path records.
fn bank_events(count: usize) -> Vec<NewEvent> {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut balance = 0i64;
    (0..count)
        .map(|i| {
            let event: AccountEvent = if i == 0 {
                Opened {
                    owner: "Ada Lovelace".to_owned(),
                }
                .into()
            } else if balance > 0 && rng.below(3) == 0 {
                let amount = 1 + rng.below(balance as u64) as i64;
                balance -= amount;
                Withdrawn { amount }.into()
            } else {
                let amount = 100 + rng.below(100_000) as i64;
                balance += amount;
                Deposited {
                    amount,
                    reference: format!("INV-2024-{:06} ACME Corp. monthly settlement", i),
                }
                .into()
            };
            let encoded = event.encode().expect("bank events encode");
            let mut new = NewEvent::new(
                encoded.event_type,
                encoded.schema_version,
                encoded.payload,
                Metadata::default(),
            );
            new.metadata = Metadata::default()
                .correlated_with(new.event_id)
                .caused_by(new.event_id);
            new
        })
        .collect()
}

/// (a) One whole load. Not inlined, here and below, so each measured body is one function in
/// a profile (`valgrind --tool=callgrind --toggle-collect=*hydrate_load*`, see the README).
#[inline(never)]
fn hydrate_load(
    runtime: &tokio::runtime::Runtime,
    repository: &Repository<Account, InMemoryStore>,
) -> annals::Loaded<Account> {
    runtime
        .block_on(repository.load_from_events(black_box(ACCOUNT)))
        .expect("load")
}

/// (b) One read of the whole stream, the records dropped as the load drops them.
#[inline(never)]
fn hydrate_read(
    runtime: &tokio::runtime::Runtime,
    store: &InMemoryStore,
    stream_id: &str,
) -> usize {
    let records = runtime
        .block_on(store.read_stream(black_box(stream_id), 1, EVENTS))
        .expect("read");
    black_box(&records).len()
}

/// Floor of (b): cloning the records (and dropping the clones).
#[inline(never)]
fn hydrate_clone(records: &[RecordedEvent]) -> usize {
    let clones = records.to_vec();
    black_box(&clones).len()
}

/// The floor of decode + apply: `serde_json` straight into the payload types, dispatched by a
/// hand-written `match` on the stored type name (current versions only: no upcasting, no
/// error context).
#[inline(never)]
fn decode_by_hand(records: &[RecordedEvent]) -> Account {
    let mut state = Account::default();
    for recorded in records {
        let payload = &recorded.payload[..];
        match recorded.event_type.as_str() {
            "Opened" => state.apply(&serde_json::from_slice::<Opened>(payload).expect("Opened")),
            "Deposited" => {
                state.apply(&serde_json::from_slice::<Deposited>(payload).expect("Deposited"))
            }
            "Withdrawn" => {
                state.apply(&serde_json::from_slice::<Withdrawn>(payload).expect("Withdrawn"))
            }
            "Closed" => state.apply(&serde_json::from_slice::<Closed>(payload).expect("Closed")),
            other => panic!("unexpected event type {other}"),
        }
    }
    state
}

/// (c) Decode + apply as `Repository::load_from_events` does it, minus the store read.
#[inline(never)]
fn decode_and_apply(records: &[RecordedEvent]) -> Account {
    let mut state = Account::default();
    for recorded in records {
        let event = AccountEvent::decode_recorded(recorded).expect("bank events decode");
        state.apply_event(&event);
    }
    state
}

fn hydrate(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread tokio runtime");
    let store = InMemoryStore::new();
    let stream_id = Account::stream_id(ACCOUNT);
    runtime
        .block_on(store.append(&stream_id, ExpectedVersion::NoStream, bank_events(EVENTS)))
        .expect("append the bank stream");
    let repository = Repository::<Account, _>::new(store.clone());

    let loaded = runtime
        .block_on(repository.load_from_events(ACCOUNT))
        .expect("load the bank stream");
    assert_eq!(loaded.version, EVENTS as u64);
    let records = runtime
        .block_on(store.read_stream(&stream_id, 1, EVENTS))
        .expect("read the bank stream");
    assert_eq!(records.len(), EVENTS);
    assert_eq!(decode_and_apply(&records), loaded.state);
    assert_eq!(decode_by_hand(&records), loaded.state);

    let mut group = c.benchmark_group("hydrate");
    group.throughput(Throughput::Elements(EVENTS as u64));
    // (a) the whole load: read (in batches of the default 4,096), decode, apply.
    group.bench_function("load_from_events", |b| {
        b.iter(|| hydrate_load(&runtime, &repository))
    });
    // (b) the store read alone: every record, cloned out of the store, then dropped.
    group.bench_function("read_stream", |b| {
        b.iter(|| hydrate_read(&runtime, &store, &stream_id))
    });
    // (c) decoding and applying the records already read.
    group.bench_function("decode_apply", |b| {
        b.iter(|| decode_and_apply(black_box(&records)))
    });
    // Floor of (b): cloning the 10,000 records (and dropping the clones).
    group.bench_function("floor_clone_records", |b| {
        b.iter(|| hydrate_clone(black_box(&records)))
    });
    // Floor of (c): serde_json into the payload types through a hand-written match.
    group.bench_function("floor_serde_decode_apply", |b| {
        b.iter(|| decode_by_hand(black_box(&records)))
    });
    group.finish();
}

// ---------------------------------------------------------------------------------------
// upcast: decoding a v1 payload through a chain vs a v3 payload directly
// ---------------------------------------------------------------------------------------

mod shipping {
    use super::*;

    /// Version 1: the weight in grams as `weight`, the address flat, no tracking number.
    #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
    pub struct DispatchedV1 {
        pub order_id: String,
        pub carrier: String,
        pub weight: u32,
        pub street: String,
        pub city: String,
        pub country: String,
    }

    /// Version 2: `weight` renamed `weight_grams`, a tracking number added.
    #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
    pub struct DispatchedV2 {
        pub order_id: String,
        pub carrier: String,
        pub weight_grams: u32,
        pub street: String,
        pub city: String,
        pub country: String,
        pub tracking_number: Option<String>,
    }

    #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
    pub struct Address {
        pub street: String,
        pub city: String,
        pub country: String,
    }

    /// Version 3 (current): the address nested.
    #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
    pub struct Dispatched {
        pub order_id: String,
        pub carrier: String,
        pub weight_grams: u32,
        pub destination: Address,
        pub tracking_number: Option<String>,
    }

    impl From<DispatchedV1> for DispatchedV2 {
        fn from(v1: DispatchedV1) -> Self {
            DispatchedV2 {
                order_id: v1.order_id,
                carrier: v1.carrier,
                weight_grams: v1.weight,
                street: v1.street,
                city: v1.city,
                country: v1.country,
                tracking_number: None,
            }
        }
    }

    impl From<DispatchedV2> for Dispatched {
        fn from(v2: DispatchedV2) -> Self {
            Dispatched {
                order_id: v2.order_id,
                carrier: v2.carrier,
                weight_grams: v2.weight_grams,
                destination: Address {
                    street: v2.street,
                    city: v2.city,
                    country: v2.country,
                },
                tracking_number: v2.tracking_number,
            }
        }
    }

    /// The same migration as the `From` impls, on JSON: v1 → v2.
    pub fn raw_v1_to_v2(mut value: serde_json::Value) -> Result<serde_json::Value, UpcastError> {
        let object = value
            .as_object_mut()
            .ok_or_else(|| UpcastError::new("expected a JSON object"))?;
        let weight = object
            .remove("weight")
            .ok_or_else(|| UpcastError::missing_field("weight"))?;
        object.insert("weight_grams".to_owned(), weight);
        object.insert("tracking_number".to_owned(), serde_json::Value::Null);
        Ok(value)
    }

    /// The same migration as the `From` impls, on JSON: v2 → v3.
    pub fn raw_v2_to_v3(mut value: serde_json::Value) -> Result<serde_json::Value, UpcastError> {
        let object = value
            .as_object_mut()
            .ok_or_else(|| UpcastError::new("expected a JSON object"))?;
        let mut destination = serde_json::Map::with_capacity(3);
        for field in ["street", "city", "country"] {
            let part = object
                .remove(field)
                .ok_or_else(|| UpcastError::missing_field(field))?;
            destination.insert(field.to_owned(), part);
        }
        object.insert(
            "destination".to_owned(),
            serde_json::Value::Object(destination),
        );
        Ok(value)
    }

    /// The same payload type twice: once behind a typed chain, once behind a raw one.
    #[derive(Event, Clone, Debug, PartialEq)]
    pub enum ShippingEvent {
        #[event(
            version = 3,
            upcast(from = 1, with = DispatchedV1),
            upcast(from = 2, with = DispatchedV2)
        )]
        Dispatched(Dispatched),
        #[event(
            name = "DispatchedRaw",
            version = 3,
            upcast(from = 1, raw = raw_v1_to_v2),
            upcast(from = 2, raw = raw_v2_to_v3)
        )]
        DispatchedRaw(Dispatched),
    }

    pub fn v1() -> DispatchedV1 {
        DispatchedV1 {
            order_id: "ORD-2024-0001234567".to_owned(),
            carrier: "DHL Express Worldwide".to_owned(),
            weight: 1_250,
            street: "12 Rue de Rivoli, Bâtiment B, 3e étage".to_owned(),
            city: "Paris".to_owned(),
            country: "France".to_owned(),
        }
    }

    /// The same shipment as [`v1`], as a v3 event records it (what upcasting `v1` yields), so
    /// both decodes produce equal values and differ only in the stored form.
    pub fn v3() -> Dispatched {
        Dispatched::from(DispatchedV2::from(v1()))
    }
}

/// Each measured decode is one function, not inlined, so it stands alone in a profile.
#[inline(never)]
fn decode_v3_direct(payload: &[u8]) -> Result<shipping::ShippingEvent, annals::DecodeFailure> {
    shipping::ShippingEvent::decode(black_box("Dispatched"), black_box(3), payload)
}

#[inline(never)]
fn decode_v1_typed_chain(payload: &[u8]) -> Result<shipping::ShippingEvent, annals::DecodeFailure> {
    shipping::ShippingEvent::decode(black_box("Dispatched"), black_box(1), payload)
}

#[inline(never)]
fn decode_v1_raw_chain(payload: &[u8]) -> Result<shipping::ShippingEvent, annals::DecodeFailure> {
    shipping::ShippingEvent::decode(black_box("DispatchedRaw"), black_box(1), payload)
}

#[inline(never)]
fn serde_v3(payload: &[u8]) -> serde_json::Result<shipping::Dispatched> {
    serde_json::from_slice(payload)
}

#[inline(never)]
fn serde_v1(payload: &[u8]) -> serde_json::Result<shipping::DispatchedV1> {
    serde_json::from_slice(payload)
}

fn upcast(c: &mut Criterion) {
    use shipping::*;

    let v1_payload = serde_json::to_vec(&v1()).expect("v1 encodes");
    let v3_payload = serde_json::to_vec(&v3()).expect("v3 encodes");
    eprintln!(
        "upcast: v1 payload {} bytes, v3 payload {} bytes",
        v1_payload.len(),
        v3_payload.len()
    );
    let ok = |decoded: Result<ShippingEvent, annals::DecodeFailure>| decoded.expect("decodes");
    assert_eq!(
        ok(decode_v3_direct(&v3_payload)),
        ShippingEvent::Dispatched(v3())
    );
    assert_eq!(
        ok(decode_v1_typed_chain(&v1_payload)),
        ShippingEvent::Dispatched(v3())
    );
    assert_eq!(
        ok(decode_v1_raw_chain(&v1_payload)),
        ShippingEvent::DispatchedRaw(v3())
    );
    assert_eq!(serde_v3(&v3_payload).expect("v3"), v3());
    assert_eq!(serde_v1(&v1_payload).expect("v1"), v1());

    let mut group = c.benchmark_group("upcast");
    group.throughput(Throughput::Elements(1));
    group.bench_function("v3_direct", |b| {
        b.iter(|| decode_v3_direct(black_box(&v3_payload)))
    });
    group.bench_function("v1_typed_chain", |b| {
        b.iter(|| decode_v1_typed_chain(black_box(&v1_payload)))
    });
    group.bench_function("v1_raw_chain", |b| {
        b.iter(|| decode_v1_raw_chain(black_box(&v1_payload)))
    });
    // Floors: serde_json alone, into the type each payload is stored as.
    group.bench_function("floor_serde_v3", |b| {
        b.iter(|| serde_v3(black_box(&v3_payload)))
    });
    group.bench_function("floor_serde_v1", |b| {
        b.iter(|| serde_v1(black_box(&v1_payload)))
    });
    group.finish();
}

criterion_group!(benches, dispatch, hydrate, upcast);
criterion_main!(benches);
