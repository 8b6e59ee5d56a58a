//! `#[derive(Event)]`: stable names, schema versions, upcast chains, payload codec, and the
//! generic apply dispatch `ApplyTo<A>`.

mod expand;
mod model;

use proc_macro2::TokenStream;
use syn::DeriveInput;

use crate::errors::Errors;

pub fn derive(input: &DeriveInput) -> TokenStream {
    let mut errors = Errors::default();
    let model = model::EventEnum::parse(input, &mut errors);
    if errors.is_empty() {
        expand::expand(&model)
    } else {
        let mut out = errors.to_compile_errors();
        // A generic enum is itself the error: an impl without its generics would only add more.
        if input.generics.params.is_empty() {
            out.extend(expand::fallback(&model));
        }
        out
    }
}
