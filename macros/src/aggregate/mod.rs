//! `#[derive(Aggregate)]`: binds the event family, the domain error, the stream kind and the
//! snapshot format, and routes `apply` through the event family's `ApplyTo` dispatch.

mod expand;
mod model;

use proc_macro2::TokenStream;
use syn::DeriveInput;

use crate::errors::Errors;

pub fn derive(input: &DeriveInput) -> TokenStream {
    let mut errors = Errors::default();
    let model = model::AggregateModel::parse(input, &mut errors);
    match model {
        Some(model) if errors.is_empty() => expand::expand(&model),
        model => {
            let mut out = errors.to_compile_errors();
            // A generic type is itself the error: an impl without its generics would only add
            // more.
            if let Some(model) = model.filter(|_| input.generics.params.is_empty()) {
                out.extend(expand::fallback(&model));
            }
            out
        }
    }
}
