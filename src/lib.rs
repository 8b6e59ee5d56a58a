//! Example domains shared by the examples, the integration tests and the benchmarks.
//! This package is never published.

pub mod bank;
pub mod checkout;
pub mod orders;
pub mod shipping;
pub mod store_choice;
pub mod transfers;
