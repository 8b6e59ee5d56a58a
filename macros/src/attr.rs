//! Attribute parsing shared by the derives: one constant per key, unknown keys rejected at
//! the key's span, duplicates rejected at the second occurrence.

use proc_macro2::Span;
use syn::meta::ParseNestedMeta;
use syn::{LitStr, Path};

/// The path generated code uses to reach the runtime crate: `::annals` unless overridden
/// with `crate = "..."` by a crate that re-exports annals.
pub fn default_crate_path() -> Path {
    syn::parse_quote!(::annals)
}

/// `tokens` with every span set to `span`, so that rustc attributes what they form to the
/// user's code at `span` rather than to the derive.
pub fn respan(tokens: &impl quote::ToTokens, span: Span) -> proc_macro2::TokenStream {
    fn set(stream: proc_macro2::TokenStream, span: Span) -> proc_macro2::TokenStream {
        stream
            .into_iter()
            .map(|mut tree| {
                if let proc_macro2::TokenTree::Group(group) = &tree {
                    let mut inner =
                        proc_macro2::Group::new(group.delimiter(), set(group.stream(), span));
                    inner.set_span(span);
                    tree = proc_macro2::TokenTree::Group(inner);
                } else {
                    tree.set_span(span);
                }
                tree
            })
            .collect()
    }
    set(tokens.to_token_stream(), span)
}

/// Parses `crate = "path"`.
pub fn parse_crate_path(meta: &ParseNestedMeta) -> syn::Result<Path> {
    let lit: LitStr = meta.value()?.parse()?;
    lit.parse::<Path>().map_err(|_| {
        syn::Error::new(
            lit.span(),
            "expected a path such as `crate = \"::my_crate::annals\"`",
        )
    })
}

/// The name of the key being parsed, for messages.
pub fn key_name(meta: &ParseNestedMeta) -> String {
    quote::ToTokens::to_token_stream(&meta.path)
        .to_string()
        .replace(' ', "")
}

/// An "unknown key" error at the key, listing the accepted keys.
pub fn unknown_key(meta: &ParseNestedMeta, attribute: &str, accepted: &[&str]) -> syn::Error {
    let list = accepted
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ");
    meta.error(format!(
        "unknown {attribute} attribute `{}`; expected one of: {list}",
        key_name(meta)
    ))
}

/// Tracks which keys an attribute has set, to reject a key given twice.
#[derive(Default)]
pub struct SeenKeys {
    seen: Vec<&'static str>,
}

impl SeenKeys {
    /// Records `key`; errors at the key if it was already set.
    pub fn first(&mut self, meta: &ParseNestedMeta, key: &'static str) -> syn::Result<()> {
        if self.seen.contains(&key) {
            return Err(meta.error(format!("`{key}` is set twice; keep one")));
        }
        self.seen.push(key);
        Ok(())
    }
}

/// Parses a `u32` literal value, with an error at the literal.
pub fn parse_u32(meta: &ParseNestedMeta, what: &str) -> syn::Result<(u32, Span)> {
    let lit: syn::LitInt = meta.value()?.parse()?;
    let value = lit
        .base10_parse::<u32>()
        .map_err(|_| syn::Error::new(lit.span(), format!("{what} must be a whole number")))?;
    Ok((value, lit.span()))
}

/// Rejects generic parameters: the derives generate impls for concrete types only.
pub fn reject_generics(generics: &syn::Generics, what: &str, errors: &mut crate::errors::Errors) {
    if !generics.params.is_empty() {
        errors.spanned(
            generics,
            format!(
                "{what} cannot have generic parameters: the annals derives implement their traits for \
                 one concrete type; remove `{}` and use concrete types in its fields",
                quote::ToTokens::to_token_stream(generics)
                    .to_string()
                    .replace(' ', "")
                    .replace(',', ", ")
            ),
        );
    }
}

/// `BankAccount` → `bank_account`.
pub fn snake_case(ident: &str) -> String {
    let mut out = String::with_capacity(ident.len() + 4);
    for (i, ch) in ident.char_indices() {
        if ch.is_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.extend(ch.to_lowercase());
        } else {
            out.push(ch);
        }
    }
    out
}

/// A local variable of generated code: `__annals_{name}`. The prefix keeps it apart from
/// the user's names both ways: it captures no user name (an upcaster function called
/// `value` still resolves to the function), and no user item captures it (a unit struct
/// called `event` next to a derive would turn a plain `event` binding into a pattern).
pub fn local(name: &str) -> proc_macro2::Ident {
    proc_macro2::Ident::new(&format!("__annals_{name}"), Span::call_site())
}

/// The same local, reported at `span` (for an error about the expression it appears in).
pub fn located(local: &proc_macro2::Ident, span: Span) -> proc_macro2::Ident {
    proc_macro2::Ident::new(&local.to_string(), span)
}

#[cfg(test)]
mod tests {
    use super::snake_case;

    #[test]
    fn snake_case_splits_words_at_capitals() {
        assert_eq!(snake_case("BankAccount"), "bank_account");
        assert_eq!(snake_case("Account"), "account");
    }
}
