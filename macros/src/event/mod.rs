//! `#[derive(Event)]`: stable names, schema versions, upcast chains, payload codec, and the
//! dispatch of each variant to its handler (`ApplyTo`, `ProjectTo`).

mod check;
mod expand;
mod model;
#[cfg(test)]
mod tests;

use proc_macro2::TokenStream;
use syn::DeriveInput;

pub use self::model::EventEnum;
use crate::derive::Model;
use crate::errors::Errors;

impl Model for EventEnum {
    fn parse(input: &DeriveInput, errors: &mut Errors) -> Option<Self> {
        EventEnum::parse(input, errors)
    }

    fn check(&self, errors: &mut Errors) {
        self.check_names(errors);
        for variant in &self.variants {
            variant.check_chain(errors);
        }
    }

    fn expand(&self) -> TokenStream {
        expand::expand(self)
    }
}
