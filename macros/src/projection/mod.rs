//! `#[derive(Projection)]`: the projection's name and version, the event types it reads
//! (whole event enums, or some of their variants), and the dispatch of each recorded event
//! to the struct's `Project` handlers.

mod expand;
mod model;

use proc_macro2::TokenStream;
use syn::DeriveInput;

use crate::errors::Errors;

pub fn derive(input: &DeriveInput) -> TokenStream {
    let mut errors = Errors::default();
    let model = model::ProjectionModel::parse(input, &mut errors);
    if errors.is_empty() {
        expand::expand(&model)
    } else {
        let mut out = errors.to_compile_errors();
        // A generic type is itself the error: an impl without its generics would only add more.
        if input.generics.params.is_empty() {
            out.extend(expand::fallback(&model));
        }
        out
    }
}
