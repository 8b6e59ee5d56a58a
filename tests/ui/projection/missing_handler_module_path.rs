use annals::{Project, Projection, Recorded};

mod events {
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize)]
    pub struct Deposited {
        pub amount: i64,
    }

    #[derive(Serialize, Deserialize)]
    pub struct Withdrawn {
        pub amount: i64,
    }

    #[derive(annals::Event)]
    pub enum AccountEvent {
        Deposited(Deposited),
        Withdrawn(Withdrawn),
    }
}

#[derive(Projection, Default)]
#[projection(events(events::AccountEvent))]
struct Balance {
    total: i64,
}

impl Project<events::Deposited> for Balance {
    fn project(&mut self, event: Recorded<'_, events::Deposited>) {
        self.total += event.amount;
    }
}

// No `impl Project<events::Withdrawn> for Balance`.

fn main() {}
