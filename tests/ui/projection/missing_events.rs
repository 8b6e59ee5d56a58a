use annals::Projection;

#[derive(Projection, Default)]
#[projection(name = "balance")]
struct Balance {
    total: i64,
}

fn main() {
    // The fallback impl keeps the projection usable: no follow-on errors here.
    assert_eq!(Balance::NAME, "balance");
}
