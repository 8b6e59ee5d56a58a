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
    let model = model::CommandModel::parse(input, &mut errors);
    match model {
        Some(model) if errors.is_empty() => expand::expand(&model),
        model => {
            let mut out = errors.to_compile_errors();
            if let Some(model) = model {
                out.extend(expand::fallback(&model));
            }
            out
        }
    }
}
