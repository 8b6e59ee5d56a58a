use annals::{Event, Project, Projection, Recorded};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Deposited {
    amount: i64,
}

#[derive(Serialize, Deserialize)]
struct Withdrawn {
    amount: i64,
}

#[derive(Event)]
enum AccountEvent {
    Deposited(Deposited),
    Withdrawn(Withdrawn),
}

#[derive(Projection, Default)]
#[projection(events(AccountEvent::{Deposited, Closed}))]
struct Balance {
    total: i64,
}

impl Project<Deposited> for Balance {
    fn project(&mut self, event: Recorded<'_, Deposited>) {
        self.total += event.amount;
    }
}

fn main() {}
