//! `#[derive(Command)]`: on a struct, the target id (`#[id]` field or `id = accessor`), the
//! expected stream state and routing to `Handle<Self>`; on an enum of command structs,
//! routing of each variant to its struct.

mod expand;
mod model;

use proc_macro2::TokenStream;
use syn::DeriveInput;

use crate::errors::Errors;

pub fn derive(input: &DeriveInput) -> TokenStream {
    let mut errors = Errors::default();
    let parsed = model::CommandModel::parse(input, &mut errors);
    match parsed {
        model::Parsed {
            header: Some(header),
            shape: Some(shape),
        } if errors.is_empty() => expand::expand(&model::CommandModel { header, shape }),
        parsed => {
            let mut out = errors.to_compile_errors();
            // A generic type is itself the error: an impl without its generics would only add
            // more.
            if let Some(header) = parsed.header.filter(|_| input.generics.params.is_empty()) {
                out.extend(expand::fallback(&header));
            }
            out
        }
    }
}
