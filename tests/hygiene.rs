//! Generated code is hygienic: every derive expands inside a module that
//! shadows the prelude's types, traits and variants, the crates the expansion uses, and the
//! macros it might call, and the derived types still work end to end through the
//! repository. The test passes if this file compiles and the assertions hold.
//!
//! A second module uses `crate = "..."` to reach the runtime through a re-export.

/// Every derive, used where the prelude and the crate names mean something else.
mod shadowed {
    #![allow(dead_code, unused_macros)]

    // The prelude's types and variants, shadowed by unrelated items.
    pub struct Result;
    pub struct Ok;
    pub struct Err;
    pub struct Option;
    pub struct Some;
    pub struct None;
    pub type Vec = ();
    pub type String = ();
    pub struct Box;
    // The prelude's traits. `Default`, `Clone`, `Debug` and `PartialEq` stay usable as
    // derives: the derive macros live in the macro namespace, which these do not touch.
    pub struct Default;
    pub struct Clone;
    pub struct Copy;
    pub struct PartialEq;
    pub struct Eq;
    pub struct Send;
    pub struct Sync;
    pub struct Sized;
    pub struct Unpin;
    pub struct Drop;
    pub struct Fn;
    pub struct FnMut;
    pub struct FnOnce;
    pub struct Iterator;
    pub struct IntoIterator;
    pub struct ToString;
    pub struct ToOwned;
    pub struct AsRef;
    pub trait From {}
    pub trait Into {}
    pub trait TryFrom {}

    // The crates generated code uses, shadowed by empty local modules: only absolute paths
    // (`::core`, `::std`, `::annals`) reach the real ones.
    mod core {}
    mod std {}
    mod alloc {}
    mod annals {}
    mod serde_json {}

    // Names a derive might define or call at the call site.
    fn aggregate_id() {}
    fn variant_command() {}
    fn apply() {}
    fn __annals_assert_command() {}
    fn __annals_assert_commands() {}
    struct __AnnalsTarget;

    // Macros generated code must not call unqualified.
    macro_rules! vec {
        ($($t:tt)*) => {
            compile_error!("generated code called an unqualified `vec!`")
        };
    }
    macro_rules! format {
        ($($t:tt)*) => {
            compile_error!("generated code called an unqualified `format!`")
        };
    }
    macro_rules! panic {
        ($($t:tt)*) => {
            compile_error!("generated code called an unqualified `panic!`")
        };
    }
    macro_rules! unreachable {
        ($($t:tt)*) => {
            compile_error!("generated code called an unqualified `unreachable!`")
        };
    }
    macro_rules! matches {
        ($($t:tt)*) => {
            compile_error!("generated code called an unqualified `matches!`")
        };
    }

    use ::annals::{Aggregate, Apply, Command, Event, Handle, UpcastError};
    use ::serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
    pub struct Registered {
        pub sender: ::std::string::String,
    }

    /// v1 of `Weighed`, in grams as an integer.
    #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
    pub struct WeighedV1 {
        pub grams: u32,
    }

    #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
    pub struct Weighed {
        pub grams: u64,
        pub scale: ::std::string::String,
    }

    impl ::core::convert::From<WeighedV1> for Weighed {
        fn from(v1: WeighedV1) -> Self {
            Weighed {
                grams: <u64 as ::core::convert::From<u32>>::from(v1.grams),
                scale: ::std::string::String::from("legacy"),
            }
        }
    }

    #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
    pub struct Labelled {
        pub label: ::std::string::String,
    }

    /// `Labelled` v1 → v2: `text` was renamed `label`.
    pub fn rename_text(
        mut value: ::serde_json::Value,
    ) -> ::core::result::Result<::serde_json::Value, UpcastError> {
        let object = value
            .as_object_mut()
            .ok_or_else(|| UpcastError::new("expected an object"))?;
        let text = object
            .remove("text")
            .ok_or_else(|| UpcastError::missing_field("text"))?;
        object.insert(::std::string::String::from("label"), text);
        ::core::result::Result::Ok(value)
    }

    #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
    pub struct Delivered {
        pub to: ::std::string::String,
    }

    /// Aliases, a typed upcast and a raw upcast.
    #[derive(Event, Clone, Debug, PartialEq)]
    pub enum ParcelEvent {
        #[event(name = "ParcelRegistered", aliases = ["Registered", "Created"])]
        Registered(Registered),
        #[event(version = 2, upcast(from = 1, with = WeighedV1))]
        Weighed(Weighed),
        #[event(version = 2, upcast(from = 1, raw = rename_text))]
        Labelled(Labelled),
        Delivered(Delivered),
    }

    /// A second event family in the same module: the derives must not collide.
    #[derive(Event, Clone, Debug, PartialEq)]
    pub enum OtherEvent {
        Delivered(Delivered),
    }

    /// A domain error written out by hand (no derive other than annals' under test).
    #[derive(Debug, PartialEq)]
    pub enum ParcelError {
        AlreadyDelivered,
    }

    impl ::core::fmt::Display for ParcelError {
        fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
            f.write_str("the parcel was already delivered")
        }
    }

    impl ::std::error::Error for ParcelError {}

    #[derive(Aggregate, Default, Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[aggregate(event = ParcelEvent, error = ParcelError, kind = "parcel", snapshot(version = 1))]
    pub struct Parcel {
        pub sender: ::std::string::String,
        pub grams: u64,
        pub label: ::std::string::String,
        pub delivered_to: ::core::option::Option<::std::string::String>,
    }

    /// A second aggregate in the same module.
    #[derive(Aggregate, Default)]
    #[aggregate(event = OtherEvent, error = ParcelError)]
    pub struct Other {
        pub deliveries: u32,
    }

    impl Apply<Registered> for Parcel {
        fn apply(&mut self, event: &Registered) {
            self.sender = event.sender.clone();
        }
    }
    impl Apply<Weighed> for Parcel {
        fn apply(&mut self, event: &Weighed) {
            self.grams = event.grams;
        }
    }
    impl Apply<Labelled> for Parcel {
        fn apply(&mut self, event: &Labelled) {
            self.label = event.label.clone();
        }
    }
    impl Apply<Delivered> for Parcel {
        fn apply(&mut self, event: &Delivered) {
            self.delivered_to = ::core::option::Option::Some(event.to.clone());
        }
    }
    impl Apply<Delivered> for Other {
        fn apply(&mut self, _: &Delivered) {
            self.deliveries += 1;
        }
    }

    /// A creation command whose target is its `#[id]` field, with a custom name.
    #[derive(Command, Clone, Debug)]
    #[command(aggregate = Parcel, expect = new, name = "RegisterParcel")]
    pub struct Register {
        #[id]
        pub parcel: ::std::string::String,
        pub sender: ::std::string::String,
        pub grams: u64,
    }

    /// A command whose target comes from an accessor.
    #[derive(Command, Clone, Debug)]
    #[command(aggregate = Parcel, id = Deliver::parcel_id)]
    pub struct Deliver {
        pub route: (::std::string::String, u32),
        pub to: ::std::string::String,
    }

    impl Deliver {
        pub fn parcel_id(&self) -> &str {
            &self.route.0
        }
    }

    /// A command on the other aggregate, with a tuple `#[id]` field.
    #[derive(Command)]
    #[command(aggregate = Other, expect = any)]
    pub struct Count(#[id] pub u32);

    #[derive(Command, Clone, Debug)]
    #[command(aggregate = Parcel)]
    pub enum ParcelCommand {
        Register(Register),
        Deliver(Deliver),
    }

    /// A second command enum in the same module.
    #[derive(Command)]
    #[command(aggregate = Other)]
    pub enum OtherCommand {
        Count(Count),
    }

    impl Handle<Register> for Parcel {
        fn handle(
            &self,
            command: &Register,
        ) -> ::core::result::Result<::std::vec::Vec<ParcelEvent>, ParcelError> {
            ::core::result::Result::Ok(::std::vec![
                Registered {
                    sender: command.sender.clone(),
                }
                .into(),
                Weighed {
                    grams: command.grams,
                    scale: ::std::string::String::from("front desk"),
                }
                .into(),
            ])
        }
    }

    impl Handle<Deliver> for Parcel {
        fn handle(
            &self,
            command: &Deliver,
        ) -> ::core::result::Result<::std::vec::Vec<ParcelEvent>, ParcelError> {
            if self.delivered_to.is_some() {
                return ::core::result::Result::Err(ParcelError::AlreadyDelivered);
            }
            ::core::result::Result::Ok(::std::vec![
                Delivered {
                    to: command.to.clone(),
                }
                .into(),
            ])
        }
    }

    impl Handle<Count> for Other {
        fn handle(
            &self,
            _: &Count,
        ) -> ::core::result::Result<::std::vec::Vec<OtherEvent>, ParcelError> {
            ::core::result::Result::Ok(::std::vec::Vec::new())
        }
    }
}

/// The same derives reaching the runtime through a re-export (`crate = "..."`), as a crate
/// that wraps annals would use them.
mod reexported {
    #![allow(dead_code)]

    pub mod facade {
        pub use ::annals as runtime;
    }

    use self::facade::runtime::{Aggregate, Apply, Command, Event, Handle};
    use ::serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
    pub struct Rang {
        pub times: u32,
    }

    #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
    pub struct RangV1 {}

    impl From<RangV1> for Rang {
        fn from(_: RangV1) -> Self {
            Rang { times: 1 }
        }
    }

    #[derive(Event, Clone, Debug, PartialEq)]
    #[event(crate = "crate::reexported::facade::runtime")]
    pub enum BellEvent {
        #[event(version = 2, upcast(from = 1, with = RangV1), aliases = ["Rung"])]
        Rang(Rang),
    }

    #[derive(Debug)]
    pub struct BellError;

    impl std::fmt::Display for BellError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("bells never refuse")
        }
    }

    impl std::error::Error for BellError {}

    #[derive(Aggregate, Default, Serialize, Deserialize)]
    #[aggregate(
        crate = "crate::reexported::facade::runtime",
        event = BellEvent,
        error = BellError,
        snapshot(version = 1)
    )]
    pub struct Bell {
        pub rung: u32,
    }

    impl Apply<Rang> for Bell {
        fn apply(&mut self, event: &Rang) {
            self.rung += event.times;
        }
    }

    #[derive(Command)]
    #[command(crate = "crate::reexported::facade::runtime", aggregate = Bell, expect = any)]
    pub struct Ring {
        #[id]
        pub bell: String,
    }

    #[derive(Command)]
    #[command(crate = "crate::reexported::facade::runtime", aggregate = Bell)]
    pub enum BellCommand {
        Ring(Ring),
    }

    impl Handle<Ring> for Bell {
        fn handle(&self, _: &Ring) -> Result<Vec<BellEvent>, BellError> {
            Ok(vec![Rang { times: 2 }.into()])
        }
    }
}

use annals::store::InMemoryStore;
use annals::{Aggregate, Command, CommandError, Event, Expect, Repository, SnapshotPolicy};

use shadowed::{
    Deliver, Other, OtherCommand, Parcel, ParcelCommand, ParcelError, ParcelEvent, Register,
};

fn register(parcel: &str) -> Register {
    Register {
        parcel: parcel.into(),
        sender: "Ada".into(),
        grams: 1200,
    }
}

fn deliver(parcel: &str) -> Deliver {
    Deliver {
        route: (parcel.into(), 7),
        to: "Bob".into(),
    }
}

/// Commands derived in the shadowing module run through the repository: routing, the
/// expected-stream rule, decisions, apply dispatch, snapshots and rejections.
#[tokio::test]
async fn shadowed_derives_run_through_the_repository() {
    let parcels = Repository::<Parcel, _>::new(InMemoryStore::new())
        .with_snapshots(SnapshotPolicy::EveryNEvents(2));

    let registered = parcels
        .execute(ParcelCommand::from(register("p1")))
        .await
        .unwrap();
    assert_eq!(registered.stream_id, "parcel-p1");
    assert_eq!(registered.stream_version, 2);

    parcels.execute(deliver("p1")).await.unwrap();
    let loaded = parcels.load("p1").await.unwrap();
    assert_eq!(loaded.snapshot_version, Some(2));
    assert_eq!(loaded.version, 3);
    assert_eq!(
        loaded.state,
        Parcel {
            sender: "Ada".into(),
            grams: 1200,
            label: String::new(),
            delivered_to: Some("Bob".into()),
        }
    );

    let again = parcels.execute(ParcelCommand::from(deliver("p1"))).await;
    assert!(matches!(
        again,
        Err(CommandError::Rejected(ParcelError::AlreadyDelivered))
    ));
    let duplicate = parcels.execute(register("p1")).await;
    assert!(matches!(
        duplicate,
        Err(CommandError::AlreadyExists { version: 3, .. })
    ));
}

/// The command derives in the shadowing module read ids from a field, an accessor and a
/// tuple field, take the declared name and expectation, and route enums.
#[test]
fn shadowed_commands_route_and_name() {
    assert_eq!(register("p2").aggregate_id(), "p2");
    assert_eq!(register("p2").command_name(), "RegisterParcel");
    assert_eq!(register("p2").expect(), Expect::New);
    assert_eq!(deliver("p3").aggregate_id(), "p3");
    assert_eq!(deliver("p3").command_name(), "Deliver");
    assert_eq!(deliver("p3").expect(), Expect::Existing);
    let routed = ParcelCommand::from(deliver("p4"));
    assert_eq!(
        (routed.aggregate_id(), routed.command_name()),
        ("p4".to_owned(), "Deliver")
    );
    let count = OtherCommand::Count(shadowed::Count(42));
    assert_eq!(count.aggregate_id(), "42");
    assert_eq!(count.expect(), Expect::Any);
    assert_eq!(Other::KIND, "other");
    assert_eq!(Parcel::KIND, "parcel");
}

/// The event derive in the shadowing module names, encodes, upcasts (typed and raw) and
/// accepts aliases.
#[test]
fn shadowed_events_encode_and_upcast() {
    assert_eq!(
        ParcelEvent::NAMES,
        ["ParcelRegistered", "Weighed", "Labelled", "Delivered"]
    );
    assert_eq!(
        ParcelEvent::STORED_NAMES,
        [
            "ParcelRegistered",
            "Registered",
            "Created",
            "Weighed",
            "Labelled",
            "Delivered"
        ]
    );

    let registered = ParcelEvent::from(shadowed::Registered {
        sender: "Ada".into(),
    });
    let encoded = registered.encode().unwrap();
    assert_eq!(
        (encoded.event_type, encoded.schema_version),
        ("ParcelRegistered", 1)
    );
    assert_eq!(
        ParcelEvent::decode("Created", 1, &encoded.payload).unwrap(),
        registered
    );

    assert_eq!(
        ParcelEvent::decode("Weighed", 1, br#"{"grams":5}"#).unwrap(),
        ParcelEvent::Weighed(shadowed::Weighed {
            grams: 5,
            scale: "legacy".into()
        })
    );
    assert_eq!(
        ParcelEvent::decode("Labelled", 1, br#"{"text":"fragile"}"#).unwrap(),
        ParcelEvent::Labelled(shadowed::Labelled {
            label: "fragile".into()
        })
    );
    assert!(ParcelEvent::decode("Labelled", 1, br#"{"label":"x"}"#).is_err());
    assert_eq!(shadowed::OtherEvent::NAMES, ["Delivered"]);
}

/// A snapshot of the shadowing module's aggregate round-trips through its format.
#[test]
fn shadowed_snapshot_format_round_trips() {
    let format = Parcel::snapshot_format().expect("Parcel takes snapshots");
    assert_eq!(format.version, 1);
    let parcel = Parcel {
        sender: "Ada".into(),
        grams: 3,
        label: "x".into(),
        delivered_to: None,
    };
    let bytes = (format.encode)(&parcel).unwrap();
    assert_eq!((format.decode)(&bytes).unwrap(), parcel);
    assert!(Other::snapshot_format().is_none());
}

/// Derives with `crate = "..."` reach the runtime through the re-export and work.
#[tokio::test]
async fn crate_override_reaches_the_runtime_through_a_reexport() {
    use reexported::{Bell, BellCommand, BellEvent, Ring};

    let bells = Repository::<Bell, _>::new(InMemoryStore::new());
    bells
        .execute(BellCommand::from(Ring { bell: "b1".into() }))
        .await
        .unwrap();
    bells.execute(Ring { bell: "b1".into() }).await.unwrap();
    assert_eq!(bells.load("b1").await.unwrap().state.rung, 4);

    assert_eq!(BellEvent::STORED_NAMES, ["Rang", "Rung"]);
    assert_eq!(
        BellEvent::decode("Rung", 1, b"{}").unwrap(),
        BellEvent::Rang(reexported::Rang { times: 1 })
    );
    assert_eq!(Bell::KIND, "bell");
    assert!(Bell::snapshot_format().is_some());
}

/// Lowercase unit structs named like the generated code's locals (`event`, `command`,
/// `aggregate`, `target`, `value`, `bytes`, `source`, `payload`) sit next to every derive:
/// the generated bindings stay bindings, not patterns naming these structs.
#[allow(non_camel_case_types, dead_code)]
mod locals_shadowed {
    use annals::{Aggregate, Apply, Command, Event, Handle};
    use serde::{Deserialize, Serialize};

    struct event;
    struct command;
    struct aggregate;
    struct target;
    struct value;
    struct bytes;
    struct source;
    struct payload;
    struct schema_version;
    struct event_type;

    #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
    pub struct Rang {
        pub times: u32,
    }

    #[derive(Serialize, Deserialize)]
    pub struct RangV1 {
        pub count: u32,
    }

    impl From<RangV1> for Rang {
        fn from(v1: RangV1) -> Self {
            Rang { times: v1.count }
        }
    }

    #[derive(Event, Clone, Debug, PartialEq)]
    pub enum BellEvent {
        #[event(version = 2, upcast(from = 1, with = RangV1))]
        Rang(Rang),
    }

    #[derive(Debug, thiserror::Error)]
    #[error("bell error")]
    pub struct BellError;

    #[derive(Aggregate, Default)]
    #[aggregate(event = BellEvent, error = BellError)]
    pub struct Bell {
        pub rung: u32,
    }

    impl Apply<Rang> for Bell {
        fn apply(&mut self, e: &Rang) {
            self.rung += e.times;
        }
    }

    #[derive(Command)]
    #[command(aggregate = Bell, expect = any)]
    pub struct Ring {
        #[id]
        pub bell: String,
    }

    #[derive(Command)]
    #[command(aggregate = Bell)]
    pub enum BellCommand {
        Ring(Ring),
    }

    impl Handle<Ring> for Bell {
        fn handle(&self, _: &Ring) -> Result<Vec<BellEvent>, BellError> {
            Ok(vec![Rang { times: 1 }.into()])
        }
    }
}

#[test]
fn derives_ignore_unit_structs_named_like_their_locals() {
    use annals::{Aggregate, Command, Event};
    use locals_shadowed::*;
    let mut bell = Bell::default();
    let decided = BellCommand::from(Ring { bell: "b".into() })
        .handle(&bell)
        .unwrap();
    decided.iter().for_each(|e| bell.apply_event(e));
    let old = BellEvent::decode("Rang", 1, br#"{"count":2}"#).unwrap();
    bell.apply_event(&old);
    assert_eq!(bell.rung, 3);
    assert_eq!(decided[0].encode().unwrap().payload, br#"{"times":1}"#);
}
