use annals::messaging::{MappingError, Message, Publish, Publisher};
use annals::{Event, Recorded};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Placed {
    total: i64,
}

#[derive(Event)]
enum OrderEvent {
    Placed(Placed),
}

#[derive(Publisher)]
#[publisher(version = 2, events(OrderEvent))]
struct OrderMessages;

impl Publish<Placed> for OrderMessages {
    fn publish(&self, event: Recorded<'_, Placed>) -> Result<Option<Message>, MappingError> {
        Ok(Some(Message::json("orders.placed", "OrderPlaced", 1, &*event)?))
    }
}

fn main() {}
