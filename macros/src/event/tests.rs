//! The event derive's reading and checking of attributes, on `parse_quote!` inputs.

use syn::parse_quote;

use super::model::{EventEnum, UpcastStep};
use crate::derive::Model;
use crate::errors::Errors;

/// The model (an empty one when there is none) and every error of parse and check.
fn parse(input: syn::DeriveInput) -> (EventEnum, Vec<String>) {
    let mut errors = Errors::default();
    let model = <EventEnum as Model>::parse(&input, &mut errors);
    if let Some(model) = &model {
        model.check(&mut errors);
    }
    let model = model.unwrap_or(EventEnum {
        ident: input.ident.clone(),
        krate: crate::attr::default_crate_path(),
        variants: Vec::new(),
        complete: false,
    });
    (model, errors.messages())
}

#[test]
fn names_aliases_versions_and_upcasts_land_in_the_model() {
    let (model, errors) = parse(parse_quote! {
        #[event(crate = "reexport::annals")]
        enum AccountEvent {
            #[event(name = "AccountOpened", aliases = ["Opened", "Created"])]
            Opened(Opened),
            #[event(version = 3, upcast(from = 2, with = DepositedV2), upcast(from = 1, raw = v1_to_v2))]
            Deposited(Deposited),
        }
    });
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(model.krate, parse_quote!(reexport::annals));
    let opened = &model.variants[0];
    assert_eq!(opened.name.0, "AccountOpened");
    let aliases: Vec<_> = opened.aliases.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(aliases, ["Opened", "Created"]);
    assert_eq!(opened.version, 1);
    let deposited = &model.variants[1];
    assert_eq!(deposited.name.0, "Deposited");
    assert_eq!(deposited.version, 3);
    // Sorted by `from`, whatever the order of declaration.
    let froms: Vec<_> = deposited.upcasts.iter().map(|u| u.from).collect();
    assert_eq!(froms, [1, 2]);
    assert!(matches!(deposited.upcasts[0].step, UpcastStep::Raw(_)));
    assert!(
        matches!(&deposited.upcasts[1].step, UpcastStep::Typed(ty) if *ty == parse_quote!(DepositedV2))
    );
}

#[test]
fn a_version_gap_is_one_error_naming_the_missing_version() {
    let (_, errors) = parse(parse_quote! {
        enum AccountEvent {
            #[event(version = 3, upcast(from = 1, with = DepositedV1))]
            Deposited(Deposited),
        }
    });
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("no upcast from version 2"),
        "{}",
        errors[0]
    );
    assert!(errors[0].contains("with = DepositedV2"), "{}", errors[0]);
}

#[test]
fn a_duplicate_alias_is_one_error_naming_its_first_use() {
    let (_, errors) = parse(parse_quote! {
        enum AccountEvent {
            Opened(Opened),
            #[event(aliases = ["Opened"])]
            Deposited(Deposited),
        }
    });
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("remove it from `aliases`"),
        "{}",
        errors[0]
    );
    assert!(
        errors[0].contains("already used by variant `Opened`"),
        "{}",
        errors[0]
    );
}

#[test]
fn a_broken_variant_attribute_does_not_add_chain_errors() {
    // Reading goes on after `bogus`, but a variant with a mistake in its attribute has its
    // chain neither checked nor generated: no "missing upcast" noise.
    let (_, errors) = parse(parse_quote! {
        enum AccountEvent {
            #[event(version = 2, bogus = 1, upcast(from = 1, with = DepositedV1))]
            Deposited(Deposited),
        }
    });
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("unknown event variant attribute `bogus`"),
        "{}",
        errors[0]
    );
}

#[test]
fn every_chain_mistake_is_collected() {
    let (_, errors) = parse(parse_quote! {
        enum AccountEvent {
            #[event(version = 3, upcast(from = 1, with = V1), upcast(from = 2, raw = f), upcast(from = 3, with = V3))]
            Deposited(Deposited),
            #[event(version = 2, upcast(from = 1, with = V1), upcast(from = 1, with = V1))]
            Withdrawn(Withdrawn),
        }
    });
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(
        errors
            .iter()
            .any(|e| e.contains("cannot upcast from version 3"))
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("raw upcast from version 2 follows a typed one"))
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("upcast from version 1 twice"))
    );
}

#[test]
fn a_struct_or_a_variant_without_one_payload_is_rejected() {
    let (model, errors) = parse(parse_quote! { struct Deposited { amount: i64 } });
    assert!(model.variants.is_empty());
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("`Event` derives on the enum"),
        "{}",
        errors[0]
    );

    let (model, errors) = parse(parse_quote! {
        enum AccountEvent { Opened(Opened), Closed, Moved(From, To) }
    });
    assert_eq!(model.variants.len(), 1);
    assert_eq!(errors.len(), 2, "{errors:?}");
}
