//! What every derive shares: parse → check → expand, and the `const _` its items live in.

use proc_macro2::TokenStream;
use quote::quote;
use syn::DeriveInput;

use crate::errors::Errors;

/// A derive's checked model of its input.
pub trait Model: Sized {
    /// Reads the input into a model, recording every mistake in `errors`. The model keeps
    /// what was valid, so that [`expand`](Model::expand) still generates what it allows;
    /// `None` when nothing can be generated (a generic type, say).
    fn parse(input: &DeriveInput, errors: &mut Errors) -> Option<Self>;

    /// The checks that need the whole model (names unique across variants, version chains
    /// without gaps, ...), recording each mistake once.
    fn check(&self, errors: &mut Errors);

    /// The generated items. After a mistake, the same code from what was valid: an impl
    /// that compiles, so the mistake's own error is the only one and the user's other code
    /// (handlers, commands, repositories) reports nothing on top of it.
    fn expand(&self) -> TokenStream;
}

/// The one entry of every derive: the errors (each at its span), then what the model
/// allows to generate.
pub fn derive<M: Model>(input: &DeriveInput) -> TokenStream {
    let mut errors = Errors::default();
    let model = M::parse(input, &mut errors);
    if let Some(model) = &model {
        model.check(&mut errors);
    }
    let mut out = errors.to_compile_errors();
    if let Some(model) = model {
        out.extend(model.expand());
    }
    out
}

/// Generated items inside `const _: () = { ... };`, so no name leaks into the user's scope.
pub fn in_const(items: TokenStream) -> TokenStream {
    quote! {
        #[doc(hidden)]
        #[allow(non_upper_case_globals, unused_qualifications, unreachable_patterns, clippy::all)]
        const _: () = {
            #items
        };
    }
}
