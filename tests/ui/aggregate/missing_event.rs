use annals::Aggregate;

#[derive(Debug, thiserror::Error)]
#[error("bank error")]
struct BankError;

#[derive(Aggregate, Default)]
#[aggregate(error = BankError)]
struct Account {
    balance: i64,
}

fn main() {}
