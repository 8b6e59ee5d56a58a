//! Every `#[event(...)]` attribute: `name`, `aliases`, `version`, a typed upcast chain
//! (v1 → v2 → v3, each step `with = Type`), a raw upcast followed by a typed one, and
//! `crate = "..."` through a module that re-exports annals.

use serde::{Deserialize, Serialize};

mod reexport {
    pub use annals;
}

use reexport::annals::{Event, UpcastError};

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Opened {
    owner: String,
}

/// Version 1 of `Deposited`: an amount only.
#[derive(Serialize, Deserialize)]
struct DepositedV1 {
    amount: i64,
}

/// Version 2: a reference was added.
#[derive(Serialize, Deserialize)]
struct DepositedV2 {
    amount: i64,
    reference: String,
}

/// Version 3 (current): the amount is in cents.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Deposited {
    cents: i64,
    reference: String,
}

impl From<DepositedV1> for DepositedV2 {
    fn from(v1: DepositedV1) -> Self {
        DepositedV2 {
            amount: v1.amount,
            reference: "none".to_owned(),
        }
    }
}

impl From<DepositedV2> for Deposited {
    fn from(v2: DepositedV2) -> Self {
        Deposited {
            cents: v2.amount * 100,
            reference: v2.reference,
        }
    }
}

/// Version 2 of `Transferred`, the first one with a Rust type.
#[derive(Serialize, Deserialize)]
struct TransferredV2 {
    amount: i64,
    currency: String,
}

/// Version 3 (current).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Transferred {
    amount: i64,
    currency: String,
    note: Option<String>,
}

impl From<TransferredV2> for Transferred {
    fn from(v2: TransferredV2) -> Self {
        Transferred {
            amount: v2.amount,
            currency: v2.currency,
            note: None,
        }
    }
}

/// Version 1 of `Transferred` had no currency: everything was in euros.
fn add_currency(mut v1: serde_json::Value) -> Result<serde_json::Value, UpcastError> {
    let object = v1
        .as_object_mut()
        .ok_or_else(|| UpcastError::new("expected an object"))?;
    object.insert("currency".to_owned(), "EUR".into());
    Ok(v1)
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Closed {}

#[derive(Event, Clone, Debug, PartialEq)]
#[event(crate = "reexport::annals")]
enum AccountEvent {
    #[event(name = "AccountOpened", aliases = ["Opened", "Created"])]
    Opened(Opened),
    #[event(version = 3)]
    #[event(upcast(from = 1, with = DepositedV1), upcast(from = 2, with = DepositedV2))]
    Deposited(Deposited),
    #[event(
        version = 3,
        upcast(from = 1, raw = add_currency),
        upcast(from = 2, with = TransferredV2)
    )]
    Transferred(Transferred),
    Closed(Closed),
}

fn main() {
    assert_eq!(
        AccountEvent::NAMES,
        ["AccountOpened", "Deposited", "Transferred", "Closed"]
    );
    assert_eq!(
        AccountEvent::STORED_NAMES,
        [
            "AccountOpened",
            "Opened",
            "Created",
            "Deposited",
            "Transferred",
            "Closed"
        ]
    );

    // Current versions round-trip, under the stable name.
    let opened = AccountEvent::from(Opened {
        owner: "ada".to_owned(),
    });
    assert_eq!(opened.event_type(), "AccountOpened");
    assert_eq!(opened.schema_version(), 1);
    let encoded = opened.encode().unwrap();
    assert_eq!(encoded.event_type, "AccountOpened");
    assert_eq!(encoded.payload, br#"{"owner":"ada"}"#);
    assert_eq!(
        AccountEvent::decode("AccountOpened", 1, &encoded.payload).unwrap(),
        opened
    );
    // Events stored under a former name still decode.
    assert_eq!(
        AccountEvent::decode("Created", 1, &encoded.payload).unwrap(),
        opened
    );

    // The typed chain: v1 → v2 → v3.
    let deposited = |cents: i64, reference: &str| {
        AccountEvent::Deposited(Deposited {
            cents,
            reference: reference.to_owned(),
        })
    };
    assert_eq!(
        AccountEvent::decode("Deposited", 1, br#"{"amount":7}"#).unwrap(),
        deposited(700, "none")
    );
    assert_eq!(
        AccountEvent::decode("Deposited", 2, br#"{"amount":7,"reference":"rent"}"#).unwrap(),
        deposited(700, "rent")
    );
    assert_eq!(
        AccountEvent::decode("Deposited", 3, br#"{"cents":7,"reference":"rent"}"#).unwrap(),
        deposited(7, "rent")
    );
    assert_eq!(deposited(7, "rent").schema_version(), 3);

    // A raw step, then a typed one: v1 (JSON) → v2 (JSON, decoded as TransferredV2) → v3.
    let transferred = AccountEvent::Transferred(Transferred {
        amount: 3,
        currency: "EUR".to_owned(),
        note: None,
    });
    assert_eq!(
        AccountEvent::decode("Transferred", 1, br#"{"amount":3}"#).unwrap(),
        transferred
    );
    assert_eq!(
        AccountEvent::decode("Transferred", 2, br#"{"amount":3,"currency":"EUR"}"#).unwrap(),
        transferred
    );

    // Unknown names and versions are typed errors.
    assert!(matches!(
        AccountEvent::decode("Frozen", 1, b"{}"),
        Err(reexport::annals::DecodeFailure::UnknownType { .. })
    ));
    assert!(matches!(
        AccountEvent::decode("Deposited", 4, b"{}"),
        Err(reexport::annals::DecodeFailure::UnknownVersion {
            found: 4,
            current: 3
        })
    ));
    assert!(matches!(
        AccountEvent::decode("Transferred", 1, b"[]"),
        Err(reexport::annals::DecodeFailure::Upcast { from: 1, .. })
    ));
}
