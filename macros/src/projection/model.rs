//! Parses `#[projection(...)]` into a checked model.

use quote::ToTokens;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Data, DeriveInput, Ident, LitStr, Path, PathSegment, Token, token};

use crate::attr::{self, SeenKeys};
use crate::errors::Errors;

const KEYS: &[&str] = &["name", "version", "events", "crate"];

pub struct ProjectionModel {
    pub ident: Ident,
    pub krate: Path,
    /// The checkpoint name: `name = "..."`, or the type's name in snake_case.
    pub name: String,
    pub version: u32,
    /// The event enums read, in the order of `events(...)`, each listed once.
    pub events: Vec<EventSource>,
}

/// One entry of `events(...)`.
pub struct EventSource {
    /// The event enum, as written.
    pub path: Path,
    pub selection: Selection,
}

pub enum Selection {
    /// `AccountEvent`: every variant.
    All,
    /// `AccountEvent::{Deposited, Withdrawn}`: these variants, in listing order, each once.
    Variants(Vec<Ident>),
}

impl ProjectionModel {
    /// Always returns a model (with defaults where the attribute is wrong), so that a
    /// fallback impl can be generated after an error.
    pub fn parse(input: &DeriveInput, errors: &mut Errors) -> ProjectionModel {
        let ident = &input.ident;
        if let Data::Union(data) = &input.data {
            errors.spanned(
                data.union_token,
                "`Projection` derives on the struct (or enum) that holds the read model, not a union",
            );
        }
        attr::reject_generics(&input.generics, "a projection", errors);
        let mut krate = attr::default_crate_path();
        let mut name: Option<String> = None;
        let mut version: Option<u32> = None;
        let mut entries: Option<Vec<Entry>> = None;
        // Whether `events` was given at all, even malformed (its error is then reported), and
        // whether every attribute parsed to its end: parsing stops at an attribute's first
        // error, so an `events` after it was not seen.
        let (mut events_given, mut complete) = (false, true);
        let mut seen = SeenKeys::default();
        for attribute in input
            .attrs
            .iter()
            .filter(|a| a.path().is_ident("projection"))
        {
            let result = attribute.parse_nested_meta(|meta| {
                if meta.path.is_ident("name") {
                    seen.first(&meta, "name")?;
                    let lit: LitStr = meta.value()?.parse()?;
                    if lit.value().is_empty() {
                        errors.at(
                            lit.span(),
                            "a projection name cannot be empty: it is the key of the projection's checkpoint",
                        );
                    } else {
                        name = Some(lit.value());
                    }
                } else if meta.path.is_ident("version") {
                    seen.first(&meta, "version")?;
                    let (v, span) = attr::parse_u32(&meta, "the projection `version`")?;
                    if v == 0 {
                        errors.at(
                            span,
                            "projection versions start at 1: write `version = 1`, and bump it to rebuild \
                             the read model from the start",
                        );
                    } else {
                        version = Some(v);
                    }
                } else if meta.path.is_ident("events") {
                    events_given = true;
                    seen.first(&meta, "events")?;
                    entries = Some(parse_events(&meta)?);
                } else if meta.path.is_ident("crate") {
                    seen.first(&meta, "crate")?;
                    krate = attr::parse_crate_path(&meta)?;
                } else {
                    return Err(attr::unknown_key(&meta, "projection", KEYS));
                }
                Ok(())
            });
            if let Err(error) = result {
                errors.push(error);
                complete = false;
            }
        }
        if !events_given && complete {
            errors.at(
                ident.span(),
                format!(
                    "projection `{ident}` does not say which events it reads: add `#[projection(events(...))]` \
                     listing its event enums, e.g. `events(AccountEvent)` for every variant of `AccountEvent` \
                     or `events(AccountEvent::{{Opened, Deposited}})` for some of them"
                ),
            );
        }
        ProjectionModel {
            ident: ident.clone(),
            krate,
            name: name.unwrap_or_else(|| attr::snake_case(&ident.to_string())),
            version: version.unwrap_or(1),
            events: check_events(entries.unwrap_or_default(), errors),
        }
    }
}

/// `events(...)`, up to the checks that need the whole list.
fn parse_events(meta: &syn::meta::ParseNestedMeta) -> syn::Result<Vec<Entry>> {
    if !meta.input.peek(token::Paren) {
        return Err(meta.error(
            "`events` lists the event enums the projection reads: write `events(AccountEvent)`, \
             or `events(AccountEvent::{Opened, Deposited})` for some of their variants",
        ));
    }
    let content;
    let parens = syn::parenthesized!(content in meta.input);
    let entries = Punctuated::<Entry, Token![,]>::parse_terminated(&content)?;
    if entries.is_empty() {
        return Err(syn::Error::new(
            parens.span.join(),
            "`events()` is empty: list the event enums the projection reads, e.g. `events(AccountEvent)`",
        ));
    }
    Ok(entries.into_iter().collect())
}

/// One entry of `events(...)` as written: a path, optionally followed by `::{Variant, ...}`.
struct Entry {
    path: Path,
    selection: Option<(token::Brace, Vec<Ident>)>,
}

impl Parse for Entry {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut path = Path {
            leading_colon: input.parse()?,
            segments: Punctuated::new(),
        };
        loop {
            if !input.peek(Ident::peek_any) {
                return Err(input.error(
                    "expected the path of an event enum, e.g. `AccountEvent` or `AccountEvent::{Opened, Deposited}`",
                ));
            }
            path.segments
                .push_value(PathSegment::from(input.call(Ident::parse_any)?));
            if !input.peek(Token![::]) {
                return Ok(Entry {
                    path,
                    selection: None,
                });
            }
            let colons: Token![::] = input.parse()?;
            if input.peek(token::Brace) {
                let content;
                let brace = syn::braced!(content in input);
                let variants =
                    Punctuated::<Ident, Token![,]>::parse_terminated_with(&content, |input| {
                        input.parse().map_err(|_| {
                            input
                                .error("expected the name of a variant, e.g. `{Opened, Deposited}`")
                        })
                    })?;
                return Ok(Entry {
                    path,
                    selection: Some((brace, variants.into_iter().collect())),
                });
            }
            path.segments.push_punct(colons);
        }
    }
}

/// Each enum listed once, each selection non-empty and without repeats.
fn check_events(entries: Vec<Entry>, errors: &mut Errors) -> Vec<EventSource> {
    let mut sources: Vec<(String, EventSource)> = Vec::new();
    for entry in entries {
        let key = entry.path.to_token_stream().to_string().replace(' ', "");
        if entry.selection.is_none()
            && let Some((owner, variant)) = variant_path(&entry.path)
        {
            errors.spanned(
                &entry.path,
                format!(
                    "`{key}` names a variant, not an event enum: to read only some variants of \
                     `{owner}`, select them in braces, `{owner}::{{{variant}}}`"
                ),
            );
            continue;
        }
        if let Some((_, first)) = sources.iter().find(|(k, _)| *k == key) {
            let merged = match (&first.selection, &entry.selection) {
                (Selection::Variants(first), Some((_, second))) => {
                    let mut merged: Vec<String> = first.iter().map(Ident::to_string).collect();
                    for variant in second.iter().map(Ident::to_string) {
                        if !merged.contains(&variant) {
                            merged.push(variant);
                        }
                    }
                    format!("`{key}::{{{}}}`", merged.join(", "))
                }
                _ => format!("`{key}`"),
            };
            errors.spanned(
                &entry.path,
                format!(
                    "`{key}` is listed twice in `events(...)`; list it once: {merged} \
                     (an enum alone reads every variant, `{key}::{{...}}` only those named)"
                ),
            );
            errors.spanned(&first.path, format!("`{key}` is first listed here"));
            continue;
        }
        let selection = match entry.selection {
            None => Selection::All,
            Some((brace, variants)) => {
                if variants.is_empty() {
                    errors.at(
                        brace.span.join(),
                        format!(
                            "no variant of `{key}` is selected: name the variants the projection reads, \
                             `{key}::{{VariantA, VariantB}}`, or write `{key}` alone to read every variant"
                        ),
                    );
                }
                let mut unique: Vec<Ident> = Vec::with_capacity(variants.len());
                for variant in variants {
                    if unique.contains(&variant) {
                        errors.at(
                            variant.span(),
                            format!("variant `{variant}` of `{key}` is selected twice; remove one"),
                        );
                    } else {
                        unique.push(variant);
                    }
                }
                Selection::Variants(unique)
            }
        };
        sources.push((
            key,
            EventSource {
                path: entry.path,
                selection,
            },
        ));
    }
    sources.into_iter().map(|(_, source)| source).collect()
}

/// `AccountEvent::Deposited`: a path whose next-to-last segment is a type (UpperCamelCase,
/// where modules are snake_case) names a variant. Returns the enum and the variant.
fn variant_path(path: &Path) -> Option<(String, &Ident)> {
    let idents: Vec<&Ident> = path.segments.iter().map(|s| &s.ident).collect();
    let [enum_path @ .., owner, variant] = idents.as_slice() else {
        return None;
    };
    let owner_is_a_type = owner
        .to_string()
        .starts_with(|c: char| c.is_ascii_uppercase());
    owner_is_a_type.then(|| {
        let leading = if path.leading_colon.is_some() {
            "::"
        } else {
            ""
        };
        let owner = enum_path
            .iter()
            .chain([owner])
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("::");
        (format!("{leading}{owner}"), *variant)
    })
}

#[cfg(test)]
mod tests {
    use super::{ProjectionModel, Selection};
    use crate::errors::Errors;
    use syn::parse_quote;

    fn parse(input: syn::DeriveInput) -> (ProjectionModel, Vec<String>) {
        let mut errors = Errors::default();
        let model = ProjectionModel::parse(&input, &mut errors);
        (model, errors.messages())
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
                "`A` is first listed here",
            ]
        );
        // The model survives, so the fallback impl can be generated.
        assert_eq!(model.name, "a");
        assert_eq!(model.version, 1);
        assert_eq!(model.events.len(), 3);
    }

    #[test]
    fn a_selection_listed_twice_suggests_the_merged_selection() {
        let (_, errors) = parse(parse_quote! {
            #[projection(events(AccountEvent::{Opened}, AccountEvent::{Deposited, Opened}))]
            struct Balances;
        });
        assert_eq!(errors.len(), 2, "{errors:?}");
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

        // After an unknown key the rest of the attribute is not read: no guess about `events`.
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
}
