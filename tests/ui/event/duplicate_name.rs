use annals::Event;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Opened {
    owner: String,
}

#[derive(Serialize, Deserialize)]
struct Reopened {
    owner: String,
}

#[derive(Event)]
enum AccountEvent {
    Opened(Opened),
    #[event(name = "Opened")]
    Reopened(Reopened),
}

fn main() {
    // The enum still implements `Event`: no follow-on errors here.
    let _ = <AccountEvent as Event>::NAMES;
}
