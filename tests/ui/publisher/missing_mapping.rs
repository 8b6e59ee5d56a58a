use annals::messaging::{MappingError, Message, Publish, Publisher};
use annals::{Event, Recorded};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Placed {
    total: i64,
}

#[derive(Serialize, Deserialize)]
struct Shipped {
    carrier: String,
}

#[derive(Event)]
enum OrderEvent {
    Placed(Placed),
    Shipped(Shipped),
}

#[derive(Publisher)]
#[publisher(events(OrderEvent))]
struct OrderMessages;

impl Publish<Placed> for OrderMessages {
    fn publish(&self, event: Recorded<'_, Placed>) -> Result<Option<Message>, MappingError> {
        Ok(Some(Message::json("orders.placed", "OrderPlaced", 1, &*event)?))
    }
}

// No `impl Publish<Shipped> for OrderMessages`.

fn main() {}
