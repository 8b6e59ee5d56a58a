//! Parses `#[aggregate(...)]` into a checked model.

use proc_macro2::Span;
use syn::{Data, DeriveInput, Ident, LitStr, Path, Type};

use crate::attr::{self, SeenKeys};
use crate::errors::Errors;

const KEYS: &[&str] = &["event", "error", "kind", "snapshot", "crate"];
const SNAPSHOT_KEYS: &[&str] = &["version"];

pub struct AggregateModel {
    pub ident: Ident,
    pub krate: Path,
    pub event: Type,
    pub error: Type,
    pub kind: String,
    /// The snapshot schema version, and the span of the `snapshot` key.
    pub snapshot: Option<(u32, Span)>,
}

impl AggregateModel {
    /// `None` when the event or error type is missing (nothing sensible can be generated).
    pub fn parse(input: &DeriveInput, errors: &mut Errors) -> Option<AggregateModel> {
        let ident = &input.ident;
        if let Data::Union(data) = &input.data {
            errors.spanned(
                data.union_token,
                "`Aggregate` derives on a struct or an enum, not a union",
            );
        }
        attr::reject_generics(&input.generics, "an aggregate", errors);
        let mut krate = attr::default_crate_path();
        let mut event: Option<Type> = None;
        let mut error: Option<Type> = None;
        let mut kind: Option<String> = None;
        let mut snapshot: Option<(u32, Span)> = None;
        let mut seen = SeenKeys::default();
        for attribute in input
            .attrs
            .iter()
            .filter(|a| a.path().is_ident("aggregate"))
        {
            let result = attribute.parse_nested_meta(|meta| {
                if meta.path.is_ident("event") {
                    seen.first(&meta, "event")?;
                    event = Some(meta.value()?.parse()?);
                } else if meta.path.is_ident("error") {
                    seen.first(&meta, "error")?;
                    error = Some(meta.value()?.parse()?);
                } else if meta.path.is_ident("kind") {
                    seen.first(&meta, "kind")?;
                    let lit: LitStr = meta.value()?.parse()?;
                    if lit.value().is_empty() {
                        return Err(syn::Error::new(lit.span(), "the stream kind cannot be empty"));
                    }
                    kind = Some(lit.value());
                } else if meta.path.is_ident("snapshot") {
                    seen.first(&meta, "snapshot")?;
                    let key_span = meta.path.get_ident().map(Ident::span).unwrap_or_else(Span::call_site);
                    if !meta.input.peek(syn::token::Paren) {
                        return Err(meta.error(
                            "`snapshot` takes the snapshot schema version: write `snapshot(version = 1)`, \
                             and bump it when the state's shape changes",
                        ));
                    }
                    let mut version = None;
                    let mut seen_inner = SeenKeys::default();
                    meta.parse_nested_meta(|inner| {
                        if inner.path.is_ident("version") {
                            seen_inner.first(&inner, "version")?;
                            let (v, span) = attr::parse_u32(&inner, "the snapshot `version`")?;
                            if v == 0 {
                                return Err(syn::Error::new(span, "snapshot versions start at 1"));
                            }
                            version = Some(v);
                            Ok(())
                        } else {
                            Err(attr::unknown_key(&inner, "snapshot", SNAPSHOT_KEYS))
                        }
                    })?;
                    let version = version.ok_or_else(|| {
                        meta.error("say which snapshot schema version this is: `snapshot(version = 1)`; bump it when the state's shape changes")
                    })?;
                    snapshot = Some((version, key_span));
                } else if meta.path.is_ident("crate") {
                    seen.first(&meta, "crate")?;
                    krate = attr::parse_crate_path(&meta)?;
                } else {
                    return Err(attr::unknown_key(&meta, "aggregate", KEYS));
                }
                Ok(())
            });
            if let Err(e) = result {
                errors.push(e);
            }
        }
        if event.is_none() {
            errors.at(
                ident.span(),
                format!(
                    "aggregate `{ident}` does not name its events: add `#[aggregate(event = {ident}Event, error = {ident}Error)]`"
                ),
            );
        }
        if error.is_none() {
            errors.at(
                ident.span(),
                format!(
                    "aggregate `{ident}` does not name its domain error: add `error = {ident}Error` to `#[aggregate(...)]`"
                ),
            );
        }
        Some(AggregateModel {
            ident: ident.clone(),
            krate,
            event: event?,
            error: error?,
            kind: kind.unwrap_or_else(|| attr::snake_case(&ident.to_string())),
            snapshot,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::AggregateModel;
    use crate::errors::Errors;
    use syn::parse_quote;

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
    fn missing_event_and_error_are_both_reported() {
        let (model, errors) = parse(parse_quote! { struct Account; });
        assert!(model.is_none());
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].contains("event = AccountEvent"), "{}", errors[0]);
        assert!(errors[1].contains("error = AccountError"), "{}", errors[1]);
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
}
