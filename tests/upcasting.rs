//! Versioned events: typed upcast chains (`From`), raw JSON upcasters, raw-then-typed
//! chains and renamed events (`aliases`). Old stored forms and old names decode to the
//! current value; new events encode at the current name and version.

use annals::store::{EventFilter, EventStore, ExpectedVersion, InMemoryStore, Metadata, NewEvent};
use annals::{Aggregate, Apply, DecodeFailure, Event, Repository, UpcastError};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------
// The event family under test
// ---------------------------------------------------------------------------------------

/// `Packed` v1: the weight only.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct PackedV1 {
    grams: u32,
}

/// `Packed` v2: the box size was added (derived from the weight for old events).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct PackedV2 {
    grams: u32,
    box_size: String,
}

/// `Packed` v3 (current): fragility was added (small boxes were fragile).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Packed {
    grams: u32,
    box_size: String,
    fragile: bool,
}

impl From<PackedV1> for PackedV2 {
    fn from(v1: PackedV1) -> Self {
        let box_size = if v1.grams < 1000 { "small" } else { "large" };
        PackedV2 {
            grams: v1.grams,
            box_size: box_size.into(),
        }
    }
}

impl From<PackedV2> for Packed {
    fn from(v2: PackedV2) -> Self {
        Packed {
            fragile: v2.box_size == "small",
            grams: v2.grams,
            box_size: v2.box_size,
        }
    }
}

/// `Shipped` v3: `{"carrier", "tracking"}` with an optional tracking number.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct ShippedV3 {
    carrier: String,
    tracking: Option<String>,
}

/// `Shipped` v4 (current).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Shipped {
    carrier: String,
    tracking: String,
    express: bool,
}

impl From<ShippedV3> for Shipped {
    fn from(v3: ShippedV3) -> Self {
        Shipped {
            carrier: v3.carrier,
            tracking: v3.tracking.unwrap_or_else(|| "untracked".into()),
            express: false,
        }
    }
}

/// `Shipped` v1 → v2: `carrier_name` was renamed `carrier`.
fn shipped_v1_to_v2(mut value: Value) -> Result<Value, UpcastError> {
    let object = value
        .as_object_mut()
        .ok_or_else(|| UpcastError::new("expected an object"))?;
    let carrier = object
        .remove("carrier_name")
        .ok_or_else(|| UpcastError::missing_field("carrier_name"))?;
    object.insert("carrier".into(), carrier);
    Ok(value)
}

/// `Shipped` v2 → v3: legacy shipments get a tracking number made from the carrier.
fn shipped_v2_to_v3(mut value: Value) -> Result<Value, UpcastError> {
    let object = value
        .as_object_mut()
        .ok_or_else(|| UpcastError::new("expected an object"))?;
    let carrier = object
        .get("carrier")
        .and_then(Value::as_str)
        .ok_or_else(|| UpcastError::new("`carrier` must be a string"))?;
    let tracking = format!("{carrier}-legacy");
    object.insert("tracking".into(), Value::String(tracking));
    Ok(value)
}

/// `Delivered` v2: `{"day", "signed"}`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct DeliveredV2 {
    day: String,
    signed: bool,
}

/// `Delivered` v3 (current): who signed, if anyone.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Delivered {
    day: String,
    signed_by: Option<String>,
}

impl From<DeliveredV2> for Delivered {
    fn from(v2: DeliveredV2) -> Self {
        Delivered {
            day: v2.day,
            signed_by: v2.signed.then(|| "someone".into()),
        }
    }
}

/// `Delivered` v1 → v2: `{"at"}` became `{"day", "signed"}` (v1 deliveries were signed).
fn delivered_v1_to_v2(value: Value) -> Result<Value, UpcastError> {
    let day = value
        .get("at")
        .cloned()
        .ok_or_else(|| UpcastError::missing_field("at"))?;
    Ok(json!({ "day": day, "signed": true }))
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Cancelled {
    reason: String,
}

#[derive(Event, Clone, Debug, PartialEq)]
enum ShipmentEvent {
    /// A typed chain: v1 → v2 → v3 through two `From` impls.
    #[event(
        version = 3,
        upcast(from = 1, with = PackedV1),
        upcast(from = 2, with = PackedV2)
    )]
    Packed(Packed),
    /// Raw → raw → typed, and once called `Dispatched`.
    #[event(version = 4, aliases = ["Dispatched"])]
    #[event(upcast(from = 1, raw = shipped_v1_to_v2))]
    #[event(upcast(from = 2, raw = shipped_v2_to_v3))]
    #[event(upcast(from = 3, with = ShippedV3))]
    Shipped(Shipped),
    /// Raw then typed (upcasts declared out of order).
    #[event(
        version = 3,
        upcast(from = 2, with = DeliveredV2),
        upcast(from = 1, raw = delivered_v1_to_v2)
    )]
    Delivered(Delivered),
    /// Renamed twice; stored under any of its names.
    #[event(name = "ShipmentCancelled", aliases = ["OrderCancelled", "Cancelled"])]
    Cancelled(Cancelled),
}

fn decode(event_type: &str, schema_version: u32, payload: Value) -> ShipmentEvent {
    let bytes = serde_json::to_vec(&payload).unwrap();
    ShipmentEvent::decode(event_type, schema_version, &bytes)
        .unwrap_or_else(|e| panic!("{event_type} v{schema_version} {payload}: {e}"))
}

fn decode_failure(event_type: &str, schema_version: u32, payload: Value) -> DecodeFailure {
    let bytes = serde_json::to_vec(&payload).unwrap();
    match ShipmentEvent::decode(event_type, schema_version, &bytes) {
        Err(failure) => failure,
        Ok(event) => panic!("{event_type} v{schema_version} decoded as {event:?}"),
    }
}

fn packed(grams: u32, box_size: &str, fragile: bool) -> ShipmentEvent {
    Packed {
        grams,
        box_size: box_size.into(),
        fragile,
    }
    .into()
}

fn shipped(carrier: &str, tracking: &str) -> ShipmentEvent {
    Shipped {
        carrier: carrier.into(),
        tracking: tracking.into(),
        express: false,
    }
    .into()
}

fn cancelled(reason: &str) -> ShipmentEvent {
    Cancelled {
        reason: reason.into(),
    }
    .into()
}

fn one_of_each() -> Vec<ShipmentEvent> {
    vec![
        packed(500, "small", true),
        Shipped {
            carrier: "DHL".into(),
            tracking: "T1".into(),
            express: true,
        }
        .into(),
        Delivered {
            day: "2024-05-01".into(),
            signed_by: Some("Ada".into()),
        }
        .into(),
        cancelled("lost"),
    ]
}

// ---------------------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------------------

/// `NAMES` lists each variant's current name, in declaration order.
#[test]
fn names_are_the_current_names_in_order() {
    assert_eq!(
        ShipmentEvent::NAMES,
        ["Packed", "Shipped", "Delivered", "ShipmentCancelled"]
    );
}

/// `STORED_NAMES` lists each current name followed by its aliases.
#[test]
fn stored_names_include_aliases() {
    assert_eq!(
        ShipmentEvent::STORED_NAMES,
        [
            "Packed",
            "Shipped",
            "Dispatched",
            "Delivered",
            "ShipmentCancelled",
            "OrderCancelled",
            "Cancelled"
        ]
    );
}

/// `EventFilter::events_of` accepts every stored name, aliases included, and nothing else.
#[test]
fn events_of_includes_aliases() {
    let filter = EventFilter::events_of::<ShipmentEvent>();
    assert_eq!(
        filter.event_types().unwrap(),
        ShipmentEvent::STORED_NAMES
            .iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
    );
    for name in ["Packed", "Dispatched", "OrderCancelled", "Cancelled"] {
        assert!(filter.matches(name), "{name}");
    }
    assert!(!filter.matches("Opened"));
}

/// Reading the global log with `events_of` returns the family's events stored under old
/// names, and skips other families.
#[tokio::test]
async fn events_of_reads_old_names_from_the_log() {
    let store = InMemoryStore::new();
    let raw = |event_type: &str, version: u32, payload: Value| {
        NewEvent::new(
            event_type,
            version,
            serde_json::to_vec(&payload).unwrap(),
            Metadata::default(),
        )
    };
    store
        .append(
            "shipment-1",
            ExpectedVersion::NoStream,
            vec![
                raw("Dispatched", 1, json!({ "carrier_name": "UPS" })),
                raw("OrderCancelled", 1, json!({ "reason": "late" })),
            ],
        )
        .await
        .unwrap();
    store
        .append(
            "account-1",
            ExpectedVersion::NoStream,
            vec![raw("Opened", 2, json!({ "owner": "Ada" }))],
        )
        .await
        .unwrap();
    store
        .append(
            "shipment-2",
            ExpectedVersion::NoStream,
            vec![raw("Cancelled", 1, json!({ "reason": "fraud" }))],
        )
        .await
        .unwrap();

    let read = store
        .read_all(0, 100, &EventFilter::events_of::<ShipmentEvent>())
        .await
        .unwrap();
    let positions: Vec<u64> = read.iter().map(|e| e.position).collect();
    assert_eq!(positions, [1, 2, 4]);
    let decoded: Vec<ShipmentEvent> = read
        .iter()
        .map(|e| ShipmentEvent::decode_recorded(e).unwrap())
        .collect();
    assert_eq!(
        decoded,
        [
            shipped("UPS", "UPS-legacy"),
            cancelled("late"),
            cancelled("fraud")
        ]
    );
}

// ---------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------

/// New events encode under their current name, at their current version, as the payload
/// alone.
#[test]
fn new_events_encode_at_the_current_name_and_version() {
    let encoded: Vec<(&str, u32, Value)> = one_of_each()
        .iter()
        .map(|event| {
            let encoded = event.encode().unwrap();
            assert_eq!(encoded.event_type, event.event_type());
            assert_eq!(encoded.schema_version, event.schema_version());
            let payload = serde_json::from_slice(&encoded.payload).unwrap();
            (encoded.event_type, encoded.schema_version, payload)
        })
        .collect();
    assert_eq!(
        encoded,
        [
            (
                "Packed",
                3,
                json!({ "grams": 500, "box_size": "small", "fragile": true })
            ),
            (
                "Shipped",
                4,
                json!({ "carrier": "DHL", "tracking": "T1", "express": true })
            ),
            (
                "Delivered",
                3,
                json!({ "day": "2024-05-01", "signed_by": "Ada" })
            ),
            ("ShipmentCancelled", 1, json!({ "reason": "lost" })),
        ]
    );
}

/// The current form of every variant decodes back to the same event.
#[test]
fn current_forms_round_trip() {
    for event in one_of_each() {
        let encoded = event.encode().unwrap();
        let decoded =
            ShipmentEvent::decode(encoded.event_type, encoded.schema_version, &encoded.payload)
                .unwrap();
        assert_eq!(decoded, event);
    }
}

// ---------------------------------------------------------------------------------------
// Typed chain: v1 → v2 → v3
// ---------------------------------------------------------------------------------------

/// A v1 payload goes through both `From` steps, in order.
#[test]
fn typed_chain_decodes_v1_through_both_steps() {
    assert_eq!(
        decode("Packed", 1, json!({ "grams": 500 })),
        packed(500, "small", true)
    );
    assert_eq!(
        decode("Packed", 1, json!({ "grams": 2500 })),
        packed(2500, "large", false)
    );
}

/// A v2 payload goes through the last `From` step only (its stored box size is kept).
#[test]
fn typed_chain_decodes_v2_through_the_last_step() {
    assert_eq!(
        decode("Packed", 2, json!({ "grams": 500, "box_size": "large" })),
        packed(500, "large", false)
    );
}

/// A v1 payload of the wrong shape fails as the v1 type.
#[test]
fn typed_chain_reports_the_old_type_that_did_not_decode() {
    match decode_failure("Packed", 1, json!({ "weight": 5 })) {
        DecodeFailure::Payload { rust_type, .. } => {
            assert!(rust_type.ends_with("PackedV1"), "{rust_type}")
        }
        other => panic!("expected Payload, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// Raw → raw → typed: v1 → v2 → v3 → v4
// ---------------------------------------------------------------------------------------

/// A v1 payload runs both raw upcasters, then decodes as v3 and converts.
#[test]
fn raw_raw_typed_decodes_v1() {
    assert_eq!(
        decode("Shipped", 1, json!({ "carrier_name": "DHL" })),
        shipped("DHL", "DHL-legacy")
    );
}

/// A v2 payload runs the second raw upcaster only.
#[test]
fn raw_raw_typed_decodes_v2() {
    assert_eq!(
        decode("Shipped", 2, json!({ "carrier": "UPS" })),
        shipped("UPS", "UPS-legacy")
    );
}

/// A v3 payload skips the raw upcasters and converts with `From`.
#[test]
fn raw_raw_typed_decodes_v3() {
    assert_eq!(
        decode("Shipped", 3, json!({ "carrier": "UPS", "tracking": null })),
        shipped("UPS", "untracked")
    );
    assert_eq!(
        decode("Shipped", 3, json!({ "carrier": "UPS", "tracking": "X9" })),
        shipped("UPS", "X9")
    );
}

/// An old name at an old version runs the same chain.
#[test]
fn alias_at_an_old_version_upcasts() {
    assert_eq!(
        decode("Dispatched", 1, json!({ "carrier_name": "DPD" })),
        shipped("DPD", "DPD-legacy")
    );
}

/// A failing raw step is reported with the version it reads: the first step for v1 data,
/// the second when the first succeeded but produced what the second rejects.
#[test]
fn failing_raw_step_names_its_version() {
    assert!(matches!(
        decode_failure("Shipped", 1, json!({ "carrier": "DHL" })),
        DecodeFailure::Upcast { from: 1, .. }
    ));
    assert!(matches!(
        decode_failure("Shipped", 1, json!({ "carrier_name": 7 })),
        DecodeFailure::Upcast { from: 2, .. }
    ));
    assert!(matches!(
        decode_failure("Shipped", 2, json!({ "carrier": null })),
        DecodeFailure::Upcast { from: 2, .. }
    ));
}

// ---------------------------------------------------------------------------------------
// Raw then typed: v1 → v2 → v3
// ---------------------------------------------------------------------------------------

/// A v1 payload runs the raw upcaster, then decodes as v2 and converts.
#[test]
fn raw_then_typed_decodes_v1() {
    assert_eq!(
        decode("Delivered", 1, json!({ "at": "2019-03-04" })),
        ShipmentEvent::Delivered(Delivered {
            day: "2019-03-04".into(),
            signed_by: Some("someone".into()),
        })
    );
}

/// A v2 payload skips the raw upcaster.
#[test]
fn raw_then_typed_decodes_v2() {
    assert_eq!(
        decode(
            "Delivered",
            2,
            json!({ "day": "2020-01-01", "signed": false })
        ),
        ShipmentEvent::Delivered(Delivered {
            day: "2020-01-01".into(),
            signed_by: None,
        })
    );
}

/// Raw output that does not fit the typed step's type fails as that type.
#[test]
fn raw_then_typed_reports_the_typed_step_type() {
    match decode_failure("Delivered", 1, json!({ "at": 20190304 })) {
        DecodeFailure::Payload { rust_type, .. } => {
            assert!(rust_type.ends_with("DeliveredV2"), "{rust_type}")
        }
        other => panic!("expected Payload, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// Aliases
// ---------------------------------------------------------------------------------------

/// Events stored under an old name decode to the renamed variant, which encodes under its
/// current name.
#[test]
fn old_names_decode_to_the_current_variant() {
    for name in ["ShipmentCancelled", "OrderCancelled", "Cancelled"] {
        let event = decode(name, 1, json!({ "reason": "late" }));
        assert_eq!(event, cancelled("late"), "{name}");
        assert_eq!(event.event_type(), "ShipmentCancelled");
    }
}

/// An alias knows the variant's versions: a version the variant lacks is `UnknownVersion`.
#[test]
fn alias_with_unknown_version_is_unknown_version() {
    assert!(matches!(
        decode_failure("OrderCancelled", 2, json!({ "reason": "late" })),
        DecodeFailure::UnknownVersion {
            found: 2,
            current: 1
        }
    ));
}

/// Names are exact: a case variant of a name is an unknown type.
#[test]
fn names_are_case_sensitive() {
    assert!(matches!(
        decode_failure("cancelled", 1, json!({ "reason": "late" })),
        DecodeFailure::UnknownType { .. }
    ));
}

// ---------------------------------------------------------------------------------------
// Through the repository
// ---------------------------------------------------------------------------------------

#[derive(Debug, thiserror::Error)]
#[error("shipments never refuse")]
struct ShipmentError;

#[derive(Aggregate, Default, Debug, PartialEq)]
#[aggregate(event = ShipmentEvent, error = ShipmentError)]
struct Shipment {
    grams: u32,
    fragile: bool,
    carrier: String,
    tracking: String,
    delivered_on: Option<String>,
    cancelled: Option<String>,
}

impl Apply<Packed> for Shipment {
    fn apply(&mut self, e: &Packed) {
        self.grams = e.grams;
        self.fragile = e.fragile;
    }
}
impl Apply<Shipped> for Shipment {
    fn apply(&mut self, e: &Shipped) {
        self.carrier = e.carrier.clone();
        self.tracking = e.tracking.clone();
    }
}
impl Apply<Delivered> for Shipment {
    fn apply(&mut self, e: &Delivered) {
        self.delivered_on = Some(e.day.clone());
    }
}
impl Apply<Cancelled> for Shipment {
    fn apply(&mut self, e: &Cancelled) {
        self.cancelled = Some(e.reason.clone());
    }
}

/// A stream written by older releases (old versions, old names) loads through the
/// repository to the state the current events give.
#[tokio::test]
async fn old_stream_loads_through_the_repository() {
    let store = InMemoryStore::new();
    let legacy = |event_type: &str, version: u32, payload: Value| {
        NewEvent::new(
            event_type,
            version,
            serde_json::to_vec(&payload).unwrap(),
            Metadata::default(),
        )
    };
    store
        .append(
            &Shipment::stream_id("s1"),
            ExpectedVersion::NoStream,
            vec![
                legacy("Packed", 1, json!({ "grams": 300 })),
                legacy("Dispatched", 1, json!({ "carrier_name": "DHL" })),
                legacy("Delivered", 1, json!({ "at": "2019-03-04" })),
                legacy("OrderCancelled", 1, json!({ "reason": "refused" })),
            ],
        )
        .await
        .unwrap();

    let loaded = Repository::<Shipment, _>::new(store)
        .load("s1")
        .await
        .unwrap();
    assert_eq!(loaded.version, 4);
    assert_eq!(
        loaded.state,
        Shipment {
            grams: 300,
            fragile: true,
            carrier: "DHL".into(),
            tracking: "DHL-legacy".into(),
            delivered_on: Some("2019-03-04".into()),
            cancelled: Some("refused".into()),
        }
    );
}
