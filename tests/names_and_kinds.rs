//! A log's names belong to one type each: two aggregates of one stream kind, or two event
//! enums storing events under one name, are refused when a repository or a projection
//! runner is built, so no stream is shared by two aggregates and no event of one enum is
//! handed to another enum's handler.

use std::time::Duration;

use annals::projection::ProjectionRunner;
use annals::store::{ClaimError, InMemoryStore};
use annals::{Aggregate, Apply, Command, Event, Handle, Project, Projection, Recorded, Repository};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Lent {}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Returned {}

#[derive(Event, Clone, Debug, PartialEq)]
enum BookEvent {
    Lent(Lent),
    Returned(Returned),
}

#[derive(Debug, thiserror::Error)]
#[error("library error")]
struct LibraryError;

#[derive(Aggregate, Default)]
#[aggregate(event = BookEvent, error = LibraryError)]
struct Book {
    out: bool,
}

impl Apply<Lent> for Book {
    fn apply(&mut self, _: &Lent) {
        self.out = true;
    }
}

impl Apply<Returned> for Book {
    fn apply(&mut self, _: &Returned) {
        self.out = false;
    }
}

/// A second aggregate that declares the book's stream kind.
#[derive(Aggregate, Default)]
#[aggregate(event = BookEvent, error = LibraryError, kind = "book")]
struct Volume {
    out: bool,
}

impl Apply<Lent> for Volume {
    fn apply(&mut self, _: &Lent) {
        self.out = true;
    }
}

impl Apply<Returned> for Volume {
    fn apply(&mut self, _: &Returned) {
        self.out = false;
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct MemberReturned {
    book: String,
}

/// A member's events: `Returned` is stored under the book's name.
#[derive(Event, Clone, Debug, PartialEq)]
enum MemberEvent {
    Returned(MemberReturned),
}

#[derive(Aggregate, Default)]
#[aggregate(event = MemberEvent, error = LibraryError)]
struct Member {
    returned: u32,
}

impl Apply<MemberReturned> for Member {
    fn apply(&mut self, _: &MemberReturned) {
        self.returned += 1;
    }
}

#[derive(Command)]
#[command(aggregate = Member, expect = any)]
struct ReturnBook {
    #[id]
    member: String,
    book: String,
}

impl Handle<ReturnBook> for Member {
    fn handle(&self, command: &ReturnBook) -> Result<Vec<MemberEvent>, LibraryError> {
        Ok(vec![
            MemberReturned {
                book: command.book.clone(),
            }
            .into(),
        ])
    }
}

/// Books on the shelf: a book's `Returned` puts one back.
#[derive(Projection, Default)]
#[projection(events(BookEvent))]
struct Shelf {
    returned: u32,
}

impl Project<Lent> for Shelf {
    fn project(&mut self, _: Recorded<'_, Lent>) {}
}

impl Project<Returned> for Shelf {
    fn project(&mut self, _: Recorded<'_, Returned>) {
        self.returned += 1;
    }
}

/// Two aggregates declaring one stream kind: the second repository is refused, naming the
/// kind and both aggregates.
#[test]
fn a_second_aggregate_of_one_stream_kind_is_refused() {
    let store = InMemoryStore::new();
    let _books = Repository::<Book, _>::new(store.clone());
    let refused = Repository::<Volume, _>::try_new(store.clone()).unwrap_err();
    match &refused {
        ClaimError::StreamKind {
            kind,
            first,
            second,
        } => {
            assert_eq!(*kind, "book");
            assert!(first.ends_with("::Book"), "{first}");
            assert!(second.ends_with("::Volume"), "{second}");
        }
        other => panic!("expected a stream kind claimed twice, got {other:?}"),
    }
    assert!(
        refused.to_string().contains("#[aggregate(kind = \"...\")]"),
        "{refused}"
    );
}

/// `Repository::new` refuses the same way, with the same message.
#[test]
#[should_panic(expected = "stream kind `book` is declared by both")]
fn new_panics_on_a_stream_kind_claimed_twice() {
    let store = InMemoryStore::new();
    let _books = Repository::<Book, _>::new(store.clone());
    let _volumes = Repository::<Volume, _>::new(store);
}

/// Two event enums storing `Returned`: the second repository is refused.
#[test]
fn a_second_enum_storing_an_event_name_is_refused() {
    let store = InMemoryStore::new();
    let _books = Repository::<Book, _>::new(store.clone());
    let refused = Repository::<Member, _>::try_new(store).unwrap_err();
    assert!(
        matches!(
            refused,
            ClaimError::EventName {
                name: "Returned",
                ..
            }
        ),
        "{refused:?}"
    );
}

/// A member's `Returned` is in the log; a projection of books, whose handler takes `Returned`,
/// is refused instead of being handed the member's event as a book's.
#[tokio::test]
#[should_panic(expected = "event name `Returned` is stored by both")]
async fn a_projection_is_never_handed_another_enums_event() {
    let store = InMemoryStore::new();
    let members = Repository::<Member, _>::new(store.clone());
    members
        .execute(ReturnBook {
            member: "ada".into(),
            book: "b-1".into(),
        })
        .await
        .unwrap();
    let shelf = ProjectionRunner::new(store).spawn(Shelf::default());
    // Without the refusal, the member's `Returned` reaches the shelf's handler.
    shelf.wait_caught_up(Duration::from_secs(5)).await.unwrap();
    assert_eq!(shelf.read(|shelf| shelf.returned), 0);
}

/// The same aggregate twice, on one store or on two, and clones of a store: no claim is
/// refused.
#[test]
fn one_type_claims_its_names_as_often_as_it_likes() {
    let store = InMemoryStore::new();
    let _first = Repository::<Book, _>::new(store.clone());
    let _again = Repository::<Book, _>::new(store.clone());
    // Another store has claims of its own.
    let _members = Repository::<Member, _>::new(InMemoryStore::new());
    let _runner = Repository::<Book, _>::new(store);
}
