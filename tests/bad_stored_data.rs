//! Stored data is never trusted: an event that does not decode makes `Repository::load`
//! return `LoadError::Decode` naming the stream, stream version, event type and schema
//! version, with the `DecodeFailure` that says what went wrong. Nothing panics, and the
//! command path appends nothing on such a stream.

use std::future::Future;
use std::pin::Pin;

use annals::store::{
    AppendResult, EventFilter, EventStore, ExpectedVersion, InMemoryStore, Metadata, NewEvent,
    RecordedEvent, Snapshot, SnapshotStore, StoreError,
};
use annals::{
    Aggregate, CommandError, DecodeFailure, Event, EventDecodeError, LoadError, Repository,
};
use annals_examples::bank::{Account, AccountEvent, Deposit};

type Accounts = Repository<Account, InMemoryStore>;

fn raw(event_type: &str, schema_version: u32, payload: &str) -> NewEvent {
    NewEvent::new(
        event_type,
        schema_version,
        payload.as_bytes().to_vec(),
        Metadata::default(),
    )
}

/// A store holding one unrelated event (so positions and versions differ), then the
/// account `id`: a good `Opened` at version 1 and `bad` at version 2.
async fn account_with_bad_second_event(id: &str, bad: NewEvent) -> (InMemoryStore, Accounts) {
    let store = InMemoryStore::new();
    store
        .append(
            "elsewhere-1",
            ExpectedVersion::NoStream,
            vec![raw("Opened", 2, r#"{"owner":"someone else"}"#)],
        )
        .await
        .unwrap();
    store
        .append(
            &Account::stream_id(id),
            ExpectedVersion::NoStream,
            vec![raw("Opened", 2, r#"{"owner":"Ada"}"#), bad],
        )
        .await
        .unwrap();
    (store.clone(), Accounts::new(store))
}

/// Loads `id`, expecting a decode error; checks the fields that locate the bad event and
/// that the message names them; returns the error for the failure-specific checks.
async fn decode_error(
    accounts: &Accounts,
    id: &str,
    event_type: &str,
    schema_version: u32,
) -> EventDecodeError {
    let load_error = match accounts.load(id).await {
        Err(error) => error,
        Ok(loaded) => panic!("expected LoadError::Decode, loaded {loaded:?}"),
    };
    // `LoadError` is transparent: it says what the decode error says.
    let message = load_error.to_string();
    let LoadError::Decode(error) = load_error else {
        panic!("expected LoadError::Decode, got {load_error:?}");
    };
    let stream_id = Account::stream_id(id);
    assert_eq!(error.stream_id, stream_id);
    assert_eq!(error.stream_version, 2);
    assert_eq!(error.position, 3);
    assert_eq!(error.event_type, event_type);
    assert_eq!(error.schema_version, schema_version);

    assert_eq!(message, error.to_string());
    for part in [
        format!("{stream_id}@2"),
        "position 3".to_owned(),
        format!("`{event_type}`"),
        format!("schema version {schema_version}"),
    ] {
        assert!(
            message.contains(&part),
            "{message:?} does not mention {part:?}"
        );
    }
    error
}

/// A payload that is not JSON: `Payload`, naming the Rust type it should have been.
#[tokio::test]
async fn payload_that_is_not_json() {
    let (_, accounts) =
        account_with_bad_second_event("a1", raw("Deposited", 2, "}{ not json")).await;

    let error = decode_error(&accounts, "a1", "Deposited", 2).await;
    match &error.reason {
        DecodeFailure::Payload { rust_type, source } => {
            assert!(rust_type.ends_with("bank::Deposited"), "{rust_type}");
            assert!(source.is_syntax(), "{source:?}");
        }
        other => panic!("expected DecodeFailure::Payload, got {other:?}"),
    }
    assert!(error.to_string().contains("bank::Deposited"), "{error}");
}

/// An empty payload: `Payload` (an empty document is not JSON).
#[tokio::test]
async fn empty_payload() {
    let (_, accounts) = account_with_bad_second_event("a2", raw("Withdrawn", 1, "")).await;

    let error = decode_error(&accounts, "a2", "Withdrawn", 1).await;
    assert!(
        matches!(&error.reason, DecodeFailure::Payload { source, .. } if source.is_eof()),
        "{:?}",
        error.reason
    );
}

/// Valid JSON of the wrong shape (a missing field, a field of the wrong type): `Payload`,
/// and the message names the field.
#[tokio::test]
async fn json_of_the_wrong_shape() {
    let (_, accounts) = account_with_bad_second_event(
        "a3",
        raw("Deposited", 2, r#"{"amount":"ten","reference":""}"#),
    )
    .await;

    let error = decode_error(&accounts, "a3", "Deposited", 2).await;
    match &error.reason {
        DecodeFailure::Payload { rust_type, source } => {
            assert!(rust_type.ends_with("bank::Deposited"), "{rust_type}");
            assert!(source.is_data(), "{source:?}");
        }
        other => panic!("expected DecodeFailure::Payload, got {other:?}"),
    }
}

/// A current-version payload missing a field: `Payload`, naming the missing field.
#[tokio::test]
async fn json_missing_a_field() {
    let (_, accounts) =
        account_with_bad_second_event("a4", raw("Deposited", 2, r#"{"amount":10}"#)).await;

    let error = decode_error(&accounts, "a4", "Deposited", 2).await;
    assert!(
        matches!(error.reason, DecodeFailure::Payload { .. }),
        "{:?}",
        error.reason
    );
    assert!(error.to_string().contains("reference"), "{error}");
}

/// An event type the family does not know: `UnknownType`, listing the names it accepts.
#[tokio::test]
async fn unknown_event_type() {
    let (_, accounts) = account_with_bad_second_event("a5", raw("Teleported", 1, "{}")).await;

    let error = decode_error(&accounts, "a5", "Teleported", 1).await;
    match &error.reason {
        DecodeFailure::UnknownType { known } => assert_eq!(*known, AccountEvent::STORED_NAMES),
        other => panic!("expected DecodeFailure::UnknownType, got {other:?}"),
    }
    assert!(error.to_string().contains("Opened, Deposited"), "{error}");
}

/// A schema version above the current one: `UnknownVersion` with the found and current
/// versions.
#[tokio::test]
async fn schema_version_from_the_future() {
    let (_, accounts) =
        account_with_bad_second_event("a6", raw("Deposited", 7, r#"{"amount":1,"reference":""}"#))
            .await;

    let error = decode_error(&accounts, "a6", "Deposited", 7).await;
    assert!(
        matches!(
            error.reason,
            DecodeFailure::UnknownVersion {
                found: 7,
                current: 2
            }
        ),
        "{:?}",
        error.reason
    );
}

/// Schema version 0 (versions start at 1): `UnknownVersion`.
#[tokio::test]
async fn schema_version_zero() {
    let (_, accounts) =
        account_with_bad_second_event("a7", raw("Deposited", 0, r#"{"amount":1}"#)).await;

    let error = decode_error(&accounts, "a7", "Deposited", 0).await;
    assert!(
        matches!(
            error.reason,
            DecodeFailure::UnknownVersion {
                found: 0,
                current: 2
            }
        ),
        "{:?}",
        error.reason
    );
}

/// A version-1 event whose type has only ever had version 1 but is stored at 2:
/// `UnknownVersion` with current 1.
#[tokio::test]
async fn schema_version_of_an_unversioned_event() {
    let (_, accounts) =
        account_with_bad_second_event("a8", raw("Withdrawn", 2, r#"{"amount":1}"#)).await;

    let error = decode_error(&accounts, "a8", "Withdrawn", 2).await;
    assert!(
        matches!(
            error.reason,
            DecodeFailure::UnknownVersion {
                found: 2,
                current: 1
            }
        ),
        "{:?}",
        error.reason
    );
}

/// A raw upcaster that fails (`Opened` v1 without `name`): `Upcast` from version 1, with
/// the upcaster's message.
#[tokio::test]
async fn failing_raw_upcaster() {
    let (_, accounts) =
        account_with_bad_second_event("a9", raw("Opened", 1, r#"{"owner":"already renamed"}"#))
            .await;

    let error = decode_error(&accounts, "a9", "Opened", 1).await;
    match &error.reason {
        DecodeFailure::Upcast { from, source } => {
            assert_eq!(*from, 1);
            assert_eq!(source.to_string(), "missing field `name`");
        }
        other => panic!("expected DecodeFailure::Upcast, got {other:?}"),
    }
    assert!(
        error.to_string().contains("missing field `name`"),
        "{error}"
    );
}

/// A raw upcaster handed JSON that is not an object: `Upcast`, not a panic.
#[tokio::test]
async fn raw_upcaster_given_a_non_object() {
    let (_, accounts) = account_with_bad_second_event("a10", raw("Opened", 1, r#"["Ada"]"#)).await;

    let error = decode_error(&accounts, "a10", "Opened", 1).await;
    assert!(
        matches!(error.reason, DecodeFailure::Upcast { from: 1, .. }),
        "{:?}",
        error.reason
    );
}

/// A v1 payload that is not JSON, behind a raw upcaster: `Payload` (the upcaster never
/// runs).
#[tokio::test]
async fn raw_upcaster_given_no_json() {
    let (_, accounts) = account_with_bad_second_event("a11", raw("Opened", 1, "name=Ada")).await;

    let error = decode_error(&accounts, "a11", "Opened", 1).await;
    assert!(
        matches!(error.reason, DecodeFailure::Payload { .. }),
        "{:?}",
        error.reason
    );
}

/// A raw upcaster whose output does not fit the current type (`name` is a number):
/// `Payload`, naming the current type.
#[tokio::test]
async fn raw_upcast_output_of_the_wrong_shape() {
    let (_, accounts) =
        account_with_bad_second_event("a12", raw("Opened", 1, r#"{"name":42}"#)).await;

    let error = decode_error(&accounts, "a12", "Opened", 1).await;
    match &error.reason {
        DecodeFailure::Payload { rust_type, .. } => {
            assert!(rust_type.ends_with("bank::Opened"), "{rust_type}")
        }
        other => panic!("expected DecodeFailure::Payload, got {other:?}"),
    }
}

/// A typed upcast whose old payload does not decode as the old type: `Payload`, naming the
/// old type.
#[tokio::test]
async fn typed_upcast_of_the_wrong_shape() {
    let (_, accounts) =
        account_with_bad_second_event("a13", raw("Deposited", 1, r#"{"amount":[]}"#)).await;

    let error = decode_error(&accounts, "a13", "Deposited", 1).await;
    match &error.reason {
        DecodeFailure::Payload { rust_type, .. } => {
            assert!(rust_type.ends_with("bank::DepositedV1"), "{rust_type}")
        }
        other => panic!("expected DecodeFailure::Payload, got {other:?}"),
    }
}

/// Every way of loading reports the bad event the same way; a version before it still
/// loads.
#[tokio::test]
async fn every_load_reports_the_bad_event() {
    let (_, accounts) = account_with_bad_second_event("a14", raw("Teleported", 1, "{}")).await;

    let located = |result: Result<_, LoadError>| match result {
        Err(LoadError::Decode(error)) => (error.stream_version, error.event_type),
        other => panic!("expected LoadError::Decode, got {other:?}"),
    };
    let expected = (2, "Teleported".to_owned());
    assert_eq!(located(accounts.load_from_events("a14").await), expected);
    assert_eq!(located(accounts.load_at_version("a14", 2).await), expected);
    assert_eq!(
        located(accounts.load_as_of("a14", chrono::Utc::now()).await),
        expected
    );

    let before = accounts.load_at_version("a14", 1).await.unwrap();
    assert_eq!(before.version, 1);
    assert_eq!(before.state.owner, "Ada");
}

/// The command path on a stream with a bad event returns `CommandError::Load` with the
/// decode error, and appends nothing.
#[tokio::test]
async fn command_on_a_bad_stream_is_a_load_error_and_appends_nothing() {
    let (store, accounts) =
        account_with_bad_second_event("a15", raw("Deposited", 7, r#"{"amount":1}"#)).await;

    let error = accounts
        .execute(Deposit {
            account: "a15".into(),
            amount: 5,
            reference: "after the bad event".into(),
        })
        .await
        .unwrap_err();

    match &error {
        CommandError::Load(LoadError::Decode(decode)) => {
            assert_eq!(decode.stream_id, "account-a15");
            assert_eq!(decode.stream_version, 2);
            assert!(matches!(
                decode.reason,
                DecodeFailure::UnknownVersion { found: 7, .. }
            ));
        }
        other => panic!("expected CommandError::Load(Decode), got {other:?}"),
    }
    assert!(error.to_string().contains("account-a15@2"), "{error}");
    assert_eq!(store.stream_version("account-a15").await.unwrap(), 2);
    assert_eq!(store.head_position().await.unwrap(), 3);
}

/// The decode error is a proper `std::error::Error` chain: the `DecodeFailure` is its
/// source, and the JSON error the failure's.
#[tokio::test]
async fn decode_error_exposes_its_causes() {
    let (_, accounts) = account_with_bad_second_event("a16", raw("Deposited", 2, "nope")).await;

    let error = match accounts.load("a16").await {
        Err(error) => error,
        Ok(loaded) => panic!("expected an error, loaded {loaded:?}"),
    };
    let error: &dyn std::error::Error = &error;
    let mut chain = Vec::new();
    let mut next = error.source();
    while let Some(cause) = next {
        chain.push(cause.to_string());
        next = cause.source();
    }
    // LoadError is transparent: its source is the decode error's source, the failure.
    assert!(
        chain
            .iter()
            .any(|c| c.starts_with("payload does not decode")),
        "{chain:?}"
    );
    assert!(chain.len() >= 2, "{chain:?}");
}

// ---------------------------------------------------------------------------------------
// A store that loses an event
// ---------------------------------------------------------------------------------------

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An `InMemoryStore` whose `read_stream` silently drops the event at version 2 of every
/// stream, as a faulty backend might. (The store traits are `#[async_trait]`; this crate has
/// no `async-trait` dependency, so the methods are written in the form it expands to.)
struct GappyStore(InMemoryStore);

impl EventStore for GappyStore {
    fn append<'life0, 'life1, 'async_trait>(
        &'life0 self,
        stream_id: &'life1 str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> BoxFuture<'async_trait, Result<AppendResult, StoreError>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        self.0.append(stream_id, expected, events)
    }

    fn read_stream<'life0, 'life1, 'async_trait>(
        &'life0 self,
        stream_id: &'life1 str,
        from_version: u64,
        max_count: usize,
    ) -> BoxFuture<'async_trait, Result<Vec<RecordedEvent>, StoreError>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move {
            let mut events = self
                .0
                .read_stream(stream_id, from_version, max_count)
                .await?;
            events.retain(|e| e.stream_version != 2);
            Ok(events)
        })
    }

    fn read_all<'life0, 'life1, 'async_trait>(
        &'life0 self,
        after_position: u64,
        max_count: usize,
        filter: &'life1 EventFilter,
    ) -> BoxFuture<'async_trait, Result<Vec<RecordedEvent>, StoreError>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        self.0.read_all(after_position, max_count, filter)
    }

    fn stream_version<'life0, 'life1, 'async_trait>(
        &'life0 self,
        stream_id: &'life1 str,
    ) -> BoxFuture<'async_trait, Result<u64, StoreError>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        self.0.stream_version(stream_id)
    }

    fn head_position<'life0, 'async_trait>(
        &'life0 self,
    ) -> BoxFuture<'async_trait, Result<u64, StoreError>>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        self.0.head_position()
    }

    fn catalog(&self) -> &annals::store::Catalog {
        self.0.catalog()
    }
}

impl SnapshotStore for GappyStore {
    fn load_snapshot<'life0, 'life1, 'async_trait>(
        &'life0 self,
        stream_id: &'life1 str,
    ) -> BoxFuture<'async_trait, Result<Option<Snapshot>, StoreError>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        self.0.load_snapshot(stream_id)
    }

    fn save_snapshot<'life0, 'async_trait>(
        &'life0 self,
        snapshot: Snapshot,
    ) -> BoxFuture<'async_trait, Result<(), StoreError>>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        self.0.save_snapshot(snapshot)
    }
}

/// A stream whose versions jump (an event lost by the store) is `LoadError::BrokenStream`
/// naming the stream and the missing version, not a state silently missing an event; the
/// command path reports it and appends nothing.
#[tokio::test]
async fn stream_with_a_gap_is_broken_stream() {
    let inner = InMemoryStore::new();
    inner
        .append(
            "account-g1",
            ExpectedVersion::NoStream,
            vec![
                raw("Opened", 2, r#"{"owner":"Ada"}"#),
                raw("Deposited", 2, r#"{"amount":10,"reference":""}"#),
                raw("Deposited", 2, r#"{"amount":20,"reference":""}"#),
            ],
        )
        .await
        .unwrap();
    let accounts = Repository::<Account, _>::new(GappyStore(inner.clone()));

    let error = accounts.load("g1").await.unwrap_err();
    assert!(
        matches!(
            &error,
            LoadError::BrokenStream { stream_id, expected: 2, found: 3 } if stream_id == "account-g1"
        ),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "stream `account-g1` jumps from version 2 to 3"
    );

    let command = accounts
        .execute(Deposit {
            account: "g1".into(),
            amount: 1,
            reference: String::new(),
        })
        .await
        .unwrap_err();
    assert!(
        matches!(command, CommandError::Load(LoadError::BrokenStream { .. })),
        "{command:?}"
    );
    assert_eq!(inner.stream_version("account-g1").await.unwrap(), 3);
}
