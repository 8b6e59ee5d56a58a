use annals::messaging::Publisher;

#[derive(Publisher)]
#[publisher(name = "orders")]
struct OrderMessages;

fn main() {}
