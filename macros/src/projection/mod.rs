//! `#[derive(Projection)]`: the projection's name and version, the event types it reads
//! (whole event enums, or some of their variants), and the dispatch of each recorded event
//! to the struct's `Project` handlers.

mod check;
mod expand;
mod model;
#[cfg(test)]
mod tests;

use proc_macro2::TokenStream;
use syn::DeriveInput;

pub use self::model::ProjectionModel;
use crate::derive::Model;
use crate::errors::Errors;

impl Model for ProjectionModel {
    fn parse(input: &DeriveInput, errors: &mut Errors) -> Option<Self> {
        let model = ProjectionModel::parse(input, errors);
        // A generic type is itself the mistake: an impl without its generics would only
        // add errors.
        (!model.generic).then_some(model)
    }

    fn check(&self, errors: &mut Errors) {
        self.sources(Some(errors));
    }

    fn expand(&self) -> TokenStream {
        expand::expand(self)
    }
}
