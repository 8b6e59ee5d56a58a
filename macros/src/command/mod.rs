//! `#[derive(Command)]`: on a struct, the target id (`#[id]` field or `id = accessor`), the
//! expected stream state and routing to `Handle<Self>`; on an enum of command structs,
//! routing of each variant to its struct.

mod expand;
mod model;
#[cfg(test)]
mod tests;

use proc_macro2::TokenStream;
use syn::DeriveInput;

pub use self::model::CommandModel;
use crate::derive::Model;
use crate::errors::Errors;

impl Model for CommandModel {
    fn parse(input: &DeriveInput, errors: &mut Errors) -> Option<Self> {
        Some(CommandModel::parse(input, errors))
    }

    /// Every check of a command is a check of its attributes or of its fields: parsing
    /// makes them.
    fn check(&self, _: &mut Errors) {}

    /// Without `aggregate = ...` nothing can be generated (the aggregate is not known).
    fn expand(&self) -> TokenStream {
        match (&self.header, &self.shape) {
            (Some(header), Some(shape)) => expand::expand(header, shape),
            (Some(header), None) => expand::without_target(header),
            (None, _) => TokenStream::new(),
        }
    }
}
