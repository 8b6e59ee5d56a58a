//! The fingerprint of an aggregate's state: what its snapshots are checked against, so a
//! changed struct does not load an old snapshot even when nobody bumped
//! `snapshot(version)`.
//!
//! It covers what shapes the state's JSON as the derive sees it: the fields (or variants)
//! with their names and types, and the `#[serde(...)]` attributes. A change inside a type
//! the state holds (a nested struct) is not seen: that still needs a version bump.

use proc_macro2::{Delimiter, TokenStream, TokenTree};
use quote::ToTokens;
use syn::{Attribute, Data, DeriveInput, Fields};

/// The fingerprint of `input`'s shape: FNV-1a (64 bits) of a text written here token by
/// token, so it does not depend on how a compiler version prints tokens.
pub fn fingerprint(input: &DeriveInput) -> u64 {
    let mut text = String::new();
    serde_attributes(&input.attrs, &mut text);
    match &input.data {
        Data::Struct(data) => fields(&data.fields, &mut text),
        Data::Enum(data) => {
            for variant in &data.variants {
                text.push_str("variant ");
                serde_attributes(&variant.attrs, &mut text);
                text.push_str(&variant.ident.to_string());
                fields(&variant.fields, &mut text);
            }
        }
        Data::Union(_) => {}
    }
    fnv1a(text.as_bytes())
}

fn fields(fields: &Fields, text: &mut String) {
    let kind = match fields {
        Fields::Named(_) => "{",
        Fields::Unnamed(_) => "(",
        Fields::Unit => ";",
    };
    text.push_str(kind);
    for field in fields {
        serde_attributes(&field.attrs, text);
        if let Some(ident) = &field.ident {
            text.push_str(&ident.to_string());
            text.push(':');
        }
        tokens(field.ty.to_token_stream(), text);
        text.push(',');
    }
}

fn serde_attributes(attrs: &[Attribute], text: &mut String) {
    for attr in attrs.iter().filter(|attr| attr.path().is_ident("serde")) {
        text.push('#');
        tokens(attr.meta.to_token_stream(), text);
    }
}

/// Writes `stream` with one space between tokens and its groups' delimiters.
fn tokens(stream: TokenStream, text: &mut String) {
    for tree in stream {
        match tree {
            TokenTree::Group(group) => {
                let (open, close) = match group.delimiter() {
                    Delimiter::Parenthesis => ("(", ")"),
                    Delimiter::Brace => ("{", "}"),
                    Delimiter::Bracket => ("[", "]"),
                    Delimiter::None => ("", ""),
                };
                text.push_str(open);
                tokens(group.stream(), text);
                text.push_str(close);
            }
            TokenTree::Ident(ident) => text.push_str(&ident.to_string()),
            TokenTree::Punct(punct) => text.push(punct.as_char()),
            TokenTree::Literal(literal) => text.push_str(&literal.to_string()),
        }
        text.push(' ');
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::fingerprint;

    fn of(source: &str) -> u64 {
        fingerprint(&syn::parse_str(source).unwrap())
    }

    #[test]
    fn docs_and_formatting_do_not_change_it() {
        assert_eq!(
            of("struct A { balance: i64, owner: Vec<String> }"),
            of(
                "/// Docs.\n#[derive(Default)] struct A {\n  /// The balance.\n  balance : i64,\n  owner: Vec < String >,\n}"
            )
        );
    }

    #[test]
    fn a_renamed_field_changes_it() {
        assert_ne!(
            of("struct A { balance: i64 }"),
            of("struct A { amount: i64 }")
        );
    }

    #[test]
    fn a_changed_type_changes_it() {
        assert_ne!(
            of("struct A { balance: i64 }"),
            of("struct A { balance: u64 }")
        );
    }

    #[test]
    fn an_added_field_changes_it() {
        assert_ne!(
            of("struct A { balance: i64 }"),
            of("struct A { balance: i64, closed: bool }")
        );
    }

    #[test]
    fn serde_attributes_change_it() {
        assert_ne!(
            of("struct A { balance: i64 }"),
            of("struct A { #[serde(rename = \"b\")] balance: i64 }")
        );
    }

    #[test]
    fn the_type_name_does_not_change_it() {
        assert_eq!(
            of("struct A { balance: i64 }"),
            of("struct B { balance: i64 }")
        );
    }
}
