use annals::Event;

// Payloads are stored as JSON: they must derive `Serialize` and `Deserialize`.
struct Deposited {
    amount: i64,
}

#[derive(Event)]
enum AccountEvent {
    Deposited(Deposited),
}

fn main() {}
