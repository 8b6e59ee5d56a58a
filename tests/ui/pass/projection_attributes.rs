//! Every `#[projection(...)]` attribute: `name`, `version`, `events(...)` with a whole enum
//! and a selection of another enum's variants, and `crate`; the event-type filter (aliases
//! included) and the dispatch of recorded events to `Project` handlers.

use serde::{Deserialize, Serialize};

mod reexport {
    pub use annals;
}

use annals::{Event, Project, Projection, Recorded};
use annals::store::RecordedEvent;

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Opened {
    owner: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Deposited {
    amount: i64,
}

#[derive(Event, Clone, Debug, PartialEq)]
enum AccountEvent {
    Opened(Opened),
    #[event(name = "MoneyDeposited", aliases = ["Deposited"])]
    Deposited(Deposited),
}

mod loans {
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
    pub struct Granted {
        pub amount: i64,
    }

    #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
    pub struct Repaid {
        pub amount: i64,
    }

    #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
    pub struct Audited {
        pub by: String,
    }

    #[derive(annals::Event, Clone, Debug, PartialEq)]
    pub enum LoanEvent {
        Granted(Granted),
        #[event(aliases = ["LoanRepaid", "Reimbursed"])]
        Repaid(Repaid),
        Audited(Audited),
    }
}

use loans::{Granted, LoanEvent, Repaid};

/// Every account event, and two of the three loan events (in reverse declaration order).
#[derive(Projection, Default, Debug)]
#[projection(
    name = "exposure",
    version = 3,
    events(AccountEvent, loans::LoanEvent::{Repaid, Granted}),
    crate = "reexport::annals"
)]
struct Exposure {
    owners: Vec<String>,
    deposits: i64,
    loans: i64,
    /// (stream, version, position) of each event seen, to check the envelope.
    seen: Vec<(String, u64, u64)>,
}

impl Project<Opened> for Exposure {
    fn project(&mut self, event: Recorded<'_, Opened>) {
        self.owners.push(event.owner.clone());
        self.seen.push((
            event.stream_id.to_owned(),
            event.stream_version,
            event.position,
        ));
    }
}

impl Project<Deposited> for Exposure {
    fn project(&mut self, event: Recorded<'_, Deposited>) {
        self.deposits += event.amount;
        self.seen.push((
            event.stream_id.to_owned(),
            event.stream_version,
            event.position,
        ));
    }
}

impl Project<Granted> for Exposure {
    fn project(&mut self, event: Recorded<'_, Granted>) {
        self.loans += event.amount;
        self.seen.push((
            event.stream_id.to_owned(),
            event.stream_version,
            event.position,
        ));
    }
}

impl Project<Repaid> for Exposure {
    fn project(&mut self, event: Recorded<'_, Repaid>) {
        self.loans -= event.amount;
        self.seen.push((
            event.stream_id.to_owned(),
            event.stream_version,
            event.position,
        ));
    }
}

/// The defaults: name from the type name, version 1. An enum works as well as a struct.
#[derive(Projection)]
#[projection(events(LoanEvent::{Audited}))]
enum LastAudit {
    Never,
    By(String),
}

impl Project<loans::Audited> for LastAudit {
    fn project(&mut self, event: Recorded<'_, loans::Audited>) {
        *self = LastAudit::By(event.by.clone());
    }
}

/// Generated code uses absolute paths and its own locals: shadowing the prelude changes
/// nothing.
#[allow(dead_code, non_camel_case_types)]
mod hygiene {
    struct Result;
    struct Ok;
    struct Err;
    struct Option;
    struct Some;
    struct None;
    struct Vec;
    struct String;
    struct Iterator;
    struct IntoIterator;
    struct Extend;
    struct Sized;
    mod core {}
    mod std {}
    // Unit structs named like the generated code's bindings.
    struct event;
    struct recorded;
    struct payload;
    struct names;

    #[derive(annals::Projection)]
    #[projection(events(super::AccountEvent, super::LoanEvent::{Granted}))]
    pub struct Counted {
        pub count: u32,
    }

    impl annals::Project<super::Opened> for Counted {
        fn project(&mut self, _: annals::Recorded<'_, super::Opened>) {
            self.count += 1;
        }
    }

    impl annals::Project<super::Deposited> for Counted {
        fn project(&mut self, _: annals::Recorded<'_, super::Deposited>) {
            self.count += 1;
        }
    }

    impl annals::Project<super::Granted> for Counted {
        fn project(&mut self, _: annals::Recorded<'_, super::Granted>) {
            self.count += 1;
        }
    }
}

/// A recorded event as a store would return it.
fn recorded(position: u64, stream_id: &str, event_type: &str, payload: &str) -> RecordedEvent {
    RecordedEvent {
        position,
        stream_id: stream_id.to_owned(),
        stream_version: position * 10,
        event_id: annals::Uuid::nil(),
        event_type: event_type.to_owned(),
        schema_version: 1,
        payload: payload.as_bytes().to_vec(),
        metadata: annals::store::Metadata::default(),
        recorded_at: annals::DateTime::UNIX_EPOCH,
    }
}

fn main() {
    assert_eq!(Exposure::NAME, "exposure");
    assert_eq!(Exposure::VERSION, 3);
    assert_eq!(Exposure::checkpoint_key(), "exposure@v3");
    // `events(...)` order, then listing order within a selection; aliases included.
    assert_eq!(
        Exposure::event_types(),
        [
            "Opened",
            "MoneyDeposited",
            "Deposited",
            "Repaid",
            "LoanRepaid",
            "Reimbursed",
            "Granted",
        ]
    );
    assert_eq!(LastAudit::NAME, "last_audit");
    assert_eq!(LastAudit::VERSION, 1);
    assert_eq!(LastAudit::checkpoint_key(), "last_audit@v1");
    assert_eq!(LastAudit::event_types(), ["Audited"]);

    let mut exposure = Exposure::default();
    let log = [
        recorded(1, "account-a", "Opened", r#"{"owner":"alice"}"#),
        recorded(2, "account-a", "MoneyDeposited", r#"{"amount":100}"#),
        // Stored under a former name.
        recorded(3, "account-a", "Deposited", r#"{"amount":5}"#),
        recorded(4, "loan-l", "Granted", r#"{"amount":50}"#),
        recorded(5, "loan-l", "Reimbursed", r#"{"amount":20}"#),
        // Not read: a variant outside the selection, and a type of no listed enum. Neither
        // is decoded (their payloads would not decode).
        recorded(6, "loan-l", "Audited", "not json"),
        recorded(7, "cart-c", "ItemAdded", "not json"),
    ];
    for event in &log {
        exposure.project_recorded(event).unwrap();
    }
    assert_eq!(exposure.owners, ["alice"]);
    assert_eq!(exposure.deposits, 105);
    assert_eq!(exposure.loans, 30);
    assert_eq!(
        exposure.seen,
        [
            ("account-a".to_owned(), 10, 1),
            ("account-a".to_owned(), 20, 2),
            ("account-a".to_owned(), 30, 3),
            ("loan-l".to_owned(), 40, 4),
            ("loan-l".to_owned(), 50, 5),
        ]
    );

    // A consumed type whose payload does not decode is an error naming the event.
    let error = exposure
        .project_recorded(&recorded(8, "loan-l", "Granted", "{}"))
        .unwrap_err();
    assert_eq!((error.stream_id.as_str(), error.position), ("loan-l", 8));

    let mut audit = LastAudit::Never;
    audit
        .project_recorded(&recorded(9, "loan-l", "Audited", r#"{"by":"bob"}"#))
        .unwrap();
    audit
        .project_recorded(&recorded(10, "loan-l", "Granted", r#"{"amount":1}"#))
        .unwrap();
    assert!(matches!(&audit, LastAudit::By(by) if by == "bob"));

    let mut counted = hygiene::Counted { count: 0 };
    for event in &log {
        counted.project_recorded(event).unwrap();
    }
    assert_eq!(counted.count, 4);
}
