//! Collects every error of one derive, so the user sees them all at once, each at its span.

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use std::fmt::Display;

#[derive(Default)]
pub struct Errors {
    errors: Vec<syn::Error>,
}

impl Errors {
    pub fn push(&mut self, error: syn::Error) {
        self.errors.push(error);
    }

    /// An error at `span`.
    pub fn at(&mut self, span: Span, message: impl Display) {
        self.push(syn::Error::new(span, message));
    }

    /// An error covering all of `tokens`.
    pub fn spanned(&mut self, tokens: impl ToTokens, message: impl Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    /// How many errors have been collected: a parser compares it before and after a part of
    /// the input to know whether that part was read whole.
    pub fn len(&self) -> usize {
        self.errors.len()
    }

    /// The messages collected so far, in order (for the parser's unit tests).
    #[cfg(test)]
    pub fn messages(&self) -> Vec<String> {
        self.errors.iter().map(syn::Error::to_string).collect()
    }

    /// The collected errors as `compile_error!` invocations.
    pub fn to_compile_errors(&self) -> TokenStream {
        self.errors
            .iter()
            .map(syn::Error::to_compile_error)
            .collect()
    }
}
