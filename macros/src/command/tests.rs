//! The command derive's reading of `#[command(...)]` and `#[id]`, on `parse_quote!` inputs.

use syn::{Member, parse_quote};

use super::model::{CommandModel, Expect, Shape, Target};
use crate::errors::Errors;

fn parse(input: syn::DeriveInput) -> (CommandModel, Vec<String>) {
    let mut errors = Errors::default();
    let parsed = CommandModel::parse(&input, &mut errors);
    (parsed, errors.messages())
}

/// The struct shape of a command that parsed without error.
fn struct_shape(input: syn::DeriveInput) -> (String, Expect, Target) {
    let (parsed, errors) = parse(input);
    assert!(errors.is_empty(), "{errors:?}");
    assert!(parsed.header.is_some());
    match parsed.shape {
        Some(Shape::Struct {
            name,
            expect,
            target,
        }) => (name, expect, target),
        _ => panic!("expected a struct command"),
    }
}

#[test]
fn an_id_field_and_the_defaults() {
    let (name, expect, target) = struct_shape(parse_quote! {
        #[command(aggregate = Account)]
        struct Deposit { #[id] account: String, amount: i64 }
    });
    assert_eq!(name, "Deposit");
    assert!(matches!(expect, Expect::Existing));
    assert!(
        matches!(target, Target::Field(Member::Named(field), ty) if field == "account" && *ty == parse_quote!(String))
    );
}

#[test]
fn a_tuple_field_an_accessor_a_name_and_every_expect() {
    let (_, expect, target) = struct_shape(parse_quote! {
        #[command(aggregate = Account, expect = new)]
        struct Close(String, #[id] AccountId);
    });
    assert!(matches!(expect, Expect::New));
    assert!(matches!(target, Target::Field(Member::Unnamed(index), _) if index.index == 1));

    let (name, expect, target) = struct_shape(parse_quote! {
        #[command(aggregate = Account, expect = any, id = Transfer::source, name = "MoveMoney")]
        struct Transfer { from: String, to: String }
    });
    assert_eq!(name, "MoveMoney");
    assert!(matches!(expect, Expect::Any));
    assert!(matches!(target, Target::Accessor(path) if path == parse_quote!(Transfer::source)));
}

#[test]
fn id_mistakes_keep_the_header_for_the_fallback_impl() {
    let (parsed, errors) = parse(parse_quote! {
        #[command(aggregate = Account)]
        struct Deposit { amount: i64 }
    });
    assert!(parsed.header.is_some() && parsed.shape.is_none());
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("has no target id"), "{}", errors[0]);

    let (parsed, errors) = parse(parse_quote! {
        #[command(aggregate = Account)]
        struct Deposit { #[id] account: String, #[id] branch: String }
    });
    assert!(parsed.header.is_some() && parsed.shape.is_none());
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("marks both `account` and `branch`"),
        "{}",
        errors[0]
    );
}

#[test]
fn attribute_mistakes_are_rejected_at_their_key() {
    let (parsed, errors) = parse(parse_quote! {
        #[command(expect = exists)]
        struct Deposit { #[id] account: String }
    });
    assert!(parsed.header.is_none());
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors[0].starts_with("unknown `expect = exists`"),
        "{}",
        errors[0]
    );
    assert!(
        errors[1].contains("does not say which aggregate"),
        "{}",
        errors[1]
    );

    let (_, errors) = parse(parse_quote! {
        #[command(aggregate = Account, retries = 3)]
        struct Deposit { #[id] account: String }
    });
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("unknown command attribute `retries`"),
        "{}",
        errors[0]
    );
}

#[test]
fn an_enum_routes_its_variants_and_takes_no_struct_keys() {
    let (parsed, errors) = parse(parse_quote! {
        #[command(aggregate = Account)]
        enum AccountCommand { Open(Open), Deposit(Deposit) }
    });
    assert!(errors.is_empty(), "{errors:?}");
    let Some(Shape::Enum { variants, .. }) = parsed.shape else {
        panic!("expected an enum command");
    };
    let idents: Vec<_> = variants.iter().map(|(v, _)| v.to_string()).collect();
    assert_eq!(idents, ["Open", "Deposit"]);

    let (_, errors) = parse(parse_quote! {
        #[command(aggregate = Account, expect = new)]
        enum AccountCommand { Open(Open), Close { account: String } }
    });
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors[0].starts_with("`expect` belongs on each command struct"),
        "{}",
        errors[0]
    );
    assert!(
        errors[1].contains("must wrap exactly one command struct"),
        "{}",
        errors[1]
    );
}
