//! `#[derive(Aggregate)]`: binds the event family, the domain error, the stream kind and the
//! snapshot format, and routes `apply` through the event family's `ApplyTo` dispatch.

mod expand;
mod model;
mod shape;
#[cfg(test)]
mod tests;

use proc_macro2::TokenStream;
use syn::DeriveInput;

pub use self::model::AggregateModel;
use crate::derive::Model;
use crate::errors::Errors;

impl Model for AggregateModel {
    fn parse(input: &DeriveInput, errors: &mut Errors) -> Option<Self> {
        AggregateModel::parse(input, errors)
    }

    /// Every check of an aggregate is a check of one key: parsing makes them.
    fn check(&self, _: &mut Errors) {}

    fn expand(&self) -> TokenStream {
        expand::expand(self)
    }
}
