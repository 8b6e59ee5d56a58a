//! The projection derive's reading and checking of `#[projection(...)]`, on `parse_quote!`
//! inputs.

use syn::parse_quote;

use super::model::{ConsumerModel, EventSource, Kind, Selection};
use crate::errors::Errors;

/// The model, its checked sources, and every error of parse and check.
fn parse(input: syn::DeriveInput) -> (Model, Vec<String>) {
    let mut errors = Errors::default();
    let model = ConsumerModel::parse(Kind::Projection, &input, &mut errors);
    let events = model.sources(Some(&mut errors));
    (Model { model, events }, errors.messages())
}

struct Model {
    model: ConsumerModel,
    events: Vec<EventSource>,
}

impl std::ops::Deref for Model {
    type Target = ConsumerModel;
    fn deref(&self) -> &ConsumerModel {
        &self.model
    }
}

fn variants(selection: &Selection) -> Option<Vec<String>> {
    match selection {
        Selection::All => None,
        Selection::Variants(v) => Some(v.iter().map(ToString::to_string).collect()),
    }
}

#[test]
fn every_key_lands_in_the_model() {
    let (model, errors) = parse(parse_quote! {
        #[projection(name = "deposits", version = 3)]
        #[projection(events(AccountEvent, crate::events::LoanEvent::{Granted, Repaid}), crate = "reexport::annals")]
        struct Deposits;
    });
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(model.name, "deposits");
    assert_eq!(model.version, 3);
    assert_eq!(model.krate, parse_quote!(reexport::annals));
    assert_eq!(model.events.len(), 2);
    assert_eq!(model.events[0].path, parse_quote!(AccountEvent));
    assert_eq!(variants(&model.events[0].selection), None);
    assert_eq!(model.events[1].path, parse_quote!(crate::events::LoanEvent));
    assert_eq!(
        variants(&model.events[1].selection),
        Some(vec!["Granted".into(), "Repaid".into()])
    );
}

#[test]
fn a_path_without_braces_is_a_whole_enum() {
    let (model, errors) = parse(parse_quote! {
        #[projection(events(::bank::events::AccountEvent,))]
        struct Balances;
    });
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(
        model.events[0].path,
        parse_quote!(::bank::events::AccountEvent)
    );
    assert_eq!(variants(&model.events[0].selection), None);
}

#[test]
fn a_variant_without_braces_is_rejected_with_the_brace_form() {
    let (_, errors) = parse(parse_quote! {
        #[projection(events(bank::AccountEvent::Deposited))]
        struct Balances;
    });
    assert_eq!(
        errors,
        [
            "`bank::AccountEvent::Deposited` names a variant, not an event enum: to read only \
          some variants of `bank::AccountEvent`, select them in braces, \
          `bank::AccountEvent::{Deposited}`"
        ]
    );
}

#[test]
fn name_and_version_default() {
    let (model, errors) = parse(parse_quote! {
        #[projection(events(AccountEvent))]
        enum AccountBalances { Empty }
    });
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(model.name, "account_balances");
    assert_eq!(model.version, 1);
    assert_eq!(model.krate, parse_quote!(::annals));
}

#[test]
fn missing_events_is_reported_with_what_to_write() {
    let (model, errors) = parse(parse_quote! {
        #[projection(name = "balances")]
        struct Balances;
    });
    assert!(model.events.is_empty());
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("projection `Balances` does not say which events it reads"),
        "{}",
        errors[0]
    );
    assert!(errors[0].contains("events(AccountEvent)"), "{}", errors[0]);
}

#[test]
fn every_error_is_collected() {
    let (model, errors) = parse(parse_quote! {
        #[projection(version = 0)]
        #[projection(events(A, B::{}, C::{X, Y, X}, A))]
        #[projection(stream = "s")]
        #[projection(name = "a", name = "b")]
        union Balances<T> { a: T }
    });
    assert_eq!(
        errors,
        [
            "`Projection` derives on the struct (or enum) that holds the read model, not a union",
            "a projection cannot have generic parameters: the annals derives implement their \
             traits for one concrete type; remove `<T>` and use concrete types in its fields",
            "projection versions start at 1: write `version = 1`, and bump it to rebuild the \
             read model from the start",
            "unknown projection attribute `stream`; expected one of: `name`, `version`, \
             `events`, `crate`",
            "`name` is set twice; keep one",
            "no variant of `B` is selected: name the variants the projection reads, \
             `B::{VariantA, VariantB}`, or write `B` alone to read every variant",
            "variant `X` of `C` is selected twice; remove one",
            "`A` is listed twice in `events(...)`; list it once: `A` (an enum alone reads every \
             variant, `A::{...}` only those named)",
        ]
    );
    // The model survives, so the impl is generated from what is valid: `A` and `C` (`B::{}`
    // selects nothing, so it is left out).
    assert_eq!(model.name, "a");
    assert_eq!(model.version, 1);
    assert_eq!(model.events.len(), 2);
}

#[test]
fn a_selection_listed_twice_suggests_the_merged_selection() {
    let (_, errors) = parse(parse_quote! {
        #[projection(events(AccountEvent::{Opened}, AccountEvent::{Deposited, Opened}))]
        struct Balances;
    });
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("list it once: `AccountEvent::{Opened, Deposited}`"),
        "{}",
        errors[0]
    );
}

#[test]
fn a_bad_value_does_not_hide_the_keys_after_it() {
    let (model, errors) = parse(parse_quote! {
        #[projection(version = 0, name = "", events(AccountEvent))]
        struct Balances;
    });
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors[0].starts_with("projection versions start at 1"),
        "{}",
        errors[0]
    );
    assert!(
        errors[1].starts_with("a projection name cannot be empty"),
        "{}",
        errors[1]
    );
    assert_eq!(model.events.len(), 1);

    // After an unknown key the rest of the attribute is read on: `events` is there.
    let (_, errors) = parse(parse_quote! {
        #[projection(stream = "s", events(AccountEvent))]
        struct Balances;
    });
    assert_eq!(errors.len(), 1, "{errors:?}");
}

#[test]
fn malformed_events_are_rejected() {
    let (_, errors) = parse(parse_quote! {
        #[projection(events = AccountEvent)]
        struct Balances;
    });
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("write `events(AccountEvent)`"),
        "{}",
        errors[0]
    );

    let (_, errors) = parse(parse_quote! {
        #[projection(events())]
        struct Balances;
    });
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("`events()` is empty"),
        "{}",
        errors[0]
    );

    let (_, errors) = parse(parse_quote! {
        #[projection(events(AccountEvent::{Opened::Inner}))]
        struct Balances;
    });
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].starts_with("expected"), "{}", errors[0]);
}
