// Two variants stored under one name, in a whole domain: one error.
use annals::store::InMemoryStore;
use annals::{Aggregate, Apply, Command, Event, Handle, Project, Projection, Recorded, Repository};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Registered {
    pub title: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Lent {
    pub member: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Returned {}

#[derive(Event, Clone, Debug, PartialEq)]
pub enum BookEvent {
    Registered(Registered),
    Lent(Lent),
    #[event(name = "Lent")]
    Returned(Returned),
}

#[derive(Debug, thiserror::Error)]
pub enum BookError {
    #[error("the book is out")]
    Out,
    #[error("the book is in")]
    In,
}

#[derive(Aggregate, Default)]
#[aggregate(event = BookEvent, error = BookError)]
pub struct Book {
    title: String,
    lent_to: Option<String>,
}

impl Apply<Registered> for Book {
    fn apply(&mut self, event: &Registered) {
        self.title = event.title.clone();
    }
}

impl Apply<Lent> for Book {
    fn apply(&mut self, event: &Lent) {
        self.lent_to = Some(event.member.clone());
    }
}

impl Apply<Returned> for Book {
    fn apply(&mut self, _: &Returned) {
        self.lent_to = None;
    }
}

#[derive(Command)]
#[command(aggregate = Book, expect = new)]
pub struct Register {
    #[id]
    pub book: String,
    pub title: String,
}

#[derive(Command)]
#[command(aggregate = Book)]
pub struct Lend {
    #[id]
    pub book: String,
    pub member: String,
}

#[derive(Command)]
#[command(aggregate = Book)]
pub struct Return {
    #[id]
    pub book: String,
}

impl Handle<Register> for Book {
    fn handle(&self, command: &Register) -> Result<Vec<BookEvent>, BookError> {
        Ok(vec![Registered { title: command.title.clone() }.into()])
    }
}

impl Handle<Lend> for Book {
    fn handle(&self, command: &Lend) -> Result<Vec<BookEvent>, BookError> {
        if self.lent_to.is_some() {
            return Err(BookError::Out);
        }
        Ok(vec![Lent { member: command.member.clone() }.into()])
    }
}

impl Handle<Return> for Book {
    fn handle(&self, _: &Return) -> Result<Vec<BookEvent>, BookError> {
        if self.lent_to.is_none() {
            return Err(BookError::In);
        }
        Ok(vec![Returned {}.into()])
    }
}

#[derive(Projection, Default)]
#[projection(events(BookEvent))]
pub struct Shelf {
    out: usize,
}

impl Project<Registered> for Shelf {
    fn project(&mut self, _: Recorded<'_, Registered>) {}
}

impl Project<Lent> for Shelf {
    fn project(&mut self, _: Recorded<'_, Lent>) {
        self.out += 1;
    }
}

impl Project<Returned> for Shelf {
    fn project(&mut self, _: Recorded<'_, Returned>) {
        self.out -= 1;
    }
}

async fn lend_a_book() {
    let books = Repository::<Book, _>::new(InMemoryStore::new());
    let register = Register {
        book: "b-1".into(),
        title: "Middlemarch".into(),
    };
    books.execute(register).await.unwrap();
    let lend = Lend {
        book: "b-1".into(),
        member: "ada".into(),
    };
    books.execute(lend).await.unwrap();
    books.execute(Return { book: "b-1".into() }).await.unwrap();
    let _ = <Shelf as Projection>::event_types();
}

fn main() {
    let _ = lend_a_book();
}
