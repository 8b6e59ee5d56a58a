//! The aggregate derive's reading of `#[aggregate(...)]`, on `parse_quote!` inputs.

use syn::parse_quote;

use super::AggregateModel;
use crate::errors::Errors;

fn parse(input: syn::DeriveInput) -> (Option<AggregateModel>, Vec<String>) {
    let mut errors = Errors::default();
    let model = AggregateModel::parse(&input, &mut errors);
    (model, errors.messages())
}

#[test]
fn every_key_lands_in_the_model() {
    let (model, errors) = parse(parse_quote! {
        #[aggregate(event = AccountEvent, error = BankError, kind = "bank-account")]
        #[aggregate(snapshot(version = 2), crate = "reexport::annals")]
        struct Account { balance: i64 }
    });
    assert!(errors.is_empty(), "{errors:?}");
    let model = model.unwrap();
    assert_eq!(model.event, parse_quote!(AccountEvent));
    assert_eq!(model.error, parse_quote!(BankError));
    assert_eq!(model.kind, "bank-account");
    assert_eq!(model.snapshot.map(|(version, _)| version), Some(2));
    assert_eq!(model.krate, parse_quote!(reexport::annals));
}

#[test]
fn the_kind_defaults_to_the_snake_cased_name_and_snapshots_are_off() {
    let (model, errors) = parse(parse_quote! {
        #[aggregate(event = E, error = X)]
        struct SavingsAccount;
    });
    assert!(errors.is_empty(), "{errors:?}");
    let model = model.unwrap();
    assert_eq!(model.kind, "savings_account");
    assert!(model.snapshot.is_none());
    assert_eq!(model.krate, parse_quote!(::annals));
}

#[test]
fn a_missing_attribute_is_one_error_naming_both_keys() {
    let (model, errors) = parse(parse_quote! { struct Account; });
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("event = AccountEvent, error = AccountError"),
        "{}",
        errors[0]
    );
    // The rest of the domain is checked against the conventional names.
    let model = model.unwrap();
    assert_eq!(model.event, parse_quote!(AccountEvent));
    assert_eq!(model.error, parse_quote!(AccountError));
}

#[test]
fn missing_event_and_error_keys_are_both_reported() {
    let (_, errors) = parse(parse_quote! {
        #[aggregate(kind = "account")]
        struct Account;
    });
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0].contains("event = AccountEvent"), "{}", errors[0]);
    assert!(errors[1].contains("error = AccountError"), "{}", errors[1]);
}

#[test]
fn a_typo_in_a_key_is_one_error_and_its_value_is_kept() {
    let (model, errors) = parse(parse_quote! {
        #[aggregate(evnet = BookEvent, error = BookError)]
        struct Book;
    });
    assert_eq!(
        errors,
        [
            "unknown aggregate attribute `evnet`: did you mean `event = ...`? \
          (accepted: `event`, `error`, `kind`, `snapshot`, `crate`)"
        ]
    );
    let model = model.unwrap();
    assert_eq!(model.event, parse_quote!(BookEvent));
    assert_eq!(model.error, parse_quote!(BookError));
}

#[test]
fn unknown_and_malformed_keys_are_rejected() {
    let (model, errors) = parse(parse_quote! {
        #[aggregate(event = E, error = X, stream = "s")]
        struct Account;
    });
    // The model survives, so the fallback impl can be generated.
    assert!(model.is_some());
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("unknown aggregate attribute `stream`"),
        "{}",
        errors[0]
    );

    let (_, errors) = parse(parse_quote! {
        #[aggregate(event = E, error = X, snapshot)]
        struct Account;
    });
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("snapshot(version = 1)"), "{}", errors[0]);

    let (_, errors) = parse(parse_quote! {
        #[aggregate(event = E, error = X, event = F)]
        struct Account;
    });
    assert_eq!(errors, ["`event` is set twice; keep one"]);
}
