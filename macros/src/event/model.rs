//! Parses an event enum and its `#[event(...)]` attributes into a checked model.

use std::collections::BTreeMap;

use proc_macro2::Span;
use syn::{Data, DeriveInput, Fields, Ident, LitStr, Path, Type};

use crate::attr::{self, SeenKeys};
use crate::errors::Errors;

const ENUM_KEYS: &[&str] = &["crate"];
const VARIANT_KEYS: &[&str] = &["name", "aliases", "version", "upcast"];
const UPCAST_KEYS: &[&str] = &["from", "with", "raw"];

pub struct EventEnum {
    pub ident: Ident,
    pub krate: Path,
    pub variants: Vec<EventVariant>,
}

pub struct EventVariant {
    pub ident: Ident,
    pub payload: Type,
    /// The stable type name and where it came from.
    pub name: (String, Span),
    pub aliases: Vec<(String, Span)>,
    pub version: u32,
    pub version_span: Span,
    /// Sorted by `from`; once checked, `from` runs 1..version without gaps.
    pub upcasts: Vec<Upcast>,
    /// False when an `#[event(...)]` of this variant failed to parse: parsing stops at the
    /// first error, so the chain is incomplete and checking it would only add noise.
    pub attrs_complete: bool,
}

pub struct Upcast {
    pub from: u32,
    pub from_span: Span,
    pub step: UpcastStep,
}

pub enum UpcastStep {
    /// The payload of version `from` decodes as this type, converted with `From` into the
    /// next version's type.
    Typed(Type),
    /// A `fn(serde_json::Value) -> Result<serde_json::Value, UpcastError>` that turns the
    /// JSON of version `from` into the JSON of version `from + 1`.
    Raw(Path),
}

impl EventEnum {
    pub fn parse(input: &DeriveInput, errors: &mut Errors) -> EventEnum {
        let mut model = EventEnum {
            ident: input.ident.clone(),
            krate: attr::default_crate_path(),
            variants: Vec::new(),
        };
        model.parse_enum_attrs(input, errors);
        attr::reject_generics(&input.generics, "an event enum", errors);
        let data = match &input.data {
            Data::Enum(data) => data,
            Data::Struct(data) => {
                let ident = &input.ident;
                errors.spanned(
                    data.struct_token,
                    format!(
                        "`Event` derives on the enum that lists an aggregate's events, one variant per \
                         payload, e.g. `enum AccountEvent {{ Opened(Opened), {ident}({ident}) }}`; \
                         a payload struct such as `{ident}` only needs `Serialize` and `Deserialize`"
                    ),
                );
                return model;
            }
            Data::Union(data) => {
                errors.spanned(data.union_token, "`Event` derives on an enum, not a union");
                return model;
            }
        };
        if data.variants.is_empty() {
            errors.at(
                input.ident.span(),
                "an event enum needs at least one variant",
            );
        }
        for variant in &data.variants {
            if let Some(parsed) = EventVariant::parse(variant, errors) {
                model.variants.push(parsed);
            }
        }
        model.check_names(errors);
        for variant in model.variants.iter().filter(|v| v.attrs_complete) {
            variant.check_chain(errors);
        }
        model
    }

    fn parse_enum_attrs(&mut self, input: &DeriveInput, errors: &mut Errors) {
        let mut seen = SeenKeys::default();
        for attribute in input.attrs.iter().filter(|a| a.path().is_ident("event")) {
            let result = attribute.parse_nested_meta(|meta| {
                if meta.path.is_ident("crate") {
                    seen.first(&meta, "crate")?;
                    self.krate = attr::parse_crate_path(&meta)?;
                    Ok(())
                } else if VARIANT_KEYS.iter().any(|k| meta.path.is_ident(k)) {
                    Err(meta.error(format!(
                        "`{}` belongs on a variant: put `#[event({} = ...)]` above the variant it describes",
                        attr::key_name(&meta),
                        attr::key_name(&meta)
                    )))
                } else {
                    Err(attr::unknown_key(&meta, "event enum", ENUM_KEYS))
                }
            });
            if let Err(error) = result {
                errors.push(error);
            }
        }
    }

    /// Every name and alias must be unique across the enum: a stored event type must map to
    /// exactly one variant.
    fn check_names(&self, errors: &mut Errors) {
        let mut first_use: BTreeMap<&str, (&Ident, Span)> = BTreeMap::new();
        for variant in &self.variants {
            let names = std::iter::once((&variant.name, false))
                .chain(variant.aliases.iter().map(|alias| (alias, true)));
            for ((name, span), is_alias) in names {
                let Some((owner, first_span)) = first_use.get(name.as_str()) else {
                    first_use.insert(name, (&variant.ident, *span));
                    continue;
                };
                let ident = &variant.ident;
                let advice = if *owner == ident {
                    format!("remove the repeated `{name}`")
                } else if is_alias {
                    format!(
                        "an alias is a former name of `{ident}` alone, so a stored `{name}` would be ambiguous: \
                         remove it from `aliases`"
                    )
                } else {
                    format!(
                        "stored events of both would be indistinguishable: give `{ident}` its own `name = \"...\"`"
                    )
                };
                let whose = if *owner == ident {
                    "this variant".to_owned()
                } else {
                    format!("variant `{owner}`")
                };
                errors.at(
                    *span,
                    format!("event name `{name}` is already used by {whose}; {advice}"),
                );
                let first = if *owner == name {
                    format!("`{name}` is first used here")
                } else {
                    format!("`{name}` is first used here, by variant `{owner}`")
                };
                errors.at(*first_span, first);
            }
        }
    }
}

impl EventVariant {
    fn parse(variant: &syn::Variant, errors: &mut Errors) -> Option<EventVariant> {
        let payload = match &variant.fields {
            Fields::Unnamed(fields) if fields.unnamed.len() == 1 => fields.unnamed[0].ty.clone(),
            _ => {
                let ident = &variant.ident;
                errors.spanned(
                    variant,
                    format!(
                        "event variant `{ident}` must wrap exactly one payload type: \
                         write `{ident}({ident})` and declare `struct {ident} {{ ... }}` with the event's data"
                    ),
                );
                return None;
            }
        };
        let mut parsed = EventVariant {
            ident: variant.ident.clone(),
            payload,
            name: (variant.ident.to_string(), variant.ident.span()),
            aliases: Vec::new(),
            version: 1,
            version_span: variant.ident.span(),
            upcasts: Vec::new(),
            attrs_complete: true,
        };
        let mut seen = SeenKeys::default();
        for attribute in variant.attrs.iter().filter(|a| a.path().is_ident("event")) {
            let result = attribute.parse_nested_meta(|meta| {
                if meta.path.is_ident("name") {
                    seen.first(&meta, "name")?;
                    let lit: LitStr = meta.value()?.parse()?;
                    if lit.value().is_empty() {
                        return Err(syn::Error::new(lit.span(), "an event name cannot be empty"));
                    }
                    parsed.name = (lit.value(), lit.span());
                } else if meta.path.is_ident("aliases") {
                    seen.first(&meta, "aliases")?;
                    let content;
                    let value = meta.value()?;
                    syn::bracketed!(content in value);
                    let list = content
                        .parse_terminated(<LitStr as syn::parse::Parse>::parse, syn::Token![,])?;
                    parsed
                        .aliases
                        .extend(list.iter().map(|lit| (lit.value(), lit.span())));
                } else if meta.path.is_ident("version") {
                    seen.first(&meta, "version")?;
                    let (version, span) = attr::parse_u32(&meta, "`version`")?;
                    if version == 0 {
                        return Err(syn::Error::new(span, "schema versions start at 1"));
                    }
                    parsed.version = version;
                    parsed.version_span = span;
                } else if meta.path.is_ident("upcast") {
                    parsed.upcasts.push(Upcast::parse(&meta)?);
                } else if meta.path.is_ident("crate") {
                    return Err(meta.error("`crate` belongs on the enum, not on a variant"));
                } else {
                    return Err(attr::unknown_key(&meta, "event variant", VARIANT_KEYS));
                }
                Ok(())
            });
            if let Err(error) = result {
                errors.push(error);
                parsed.attrs_complete = false;
            }
        }
        parsed.upcasts.sort_by_key(|u| u.from);
        Some(parsed)
    }

    /// Upcasts must cover every older version exactly once (1..version), and a typed step
    /// can only be followed by another typed step (a typed payload cannot feed a JSON
    /// upcaster).
    fn check_chain(&self, errors: &mut Errors) {
        let name = &self.ident;
        let current = self.version;
        for pair in self.upcasts.windows(2) {
            if pair[0].from == pair[1].from {
                errors.at(
                    pair[1].from_span,
                    format!(
                        "`{name}` declares an upcast from version {} twice; keep one",
                        pair[1].from
                    ),
                );
            }
        }
        for upcast in &self.upcasts {
            if upcast.from == 0 {
                errors.at(
                    upcast.from_span,
                    "schema versions start at 1; there is no version 0 to upcast from",
                );
            } else if upcast.from >= current {
                let from = upcast.from;
                let readable = match current {
                    1 => format!(
                        "`{name}` is at version 1 (it has no `version = ...`), so it has no older version to read"
                    ),
                    2 => format!("`{name}` is at version 2, so upcasts read version 1 only"),
                    _ => format!(
                        "`{name}` is at version {current}, so upcasts read versions 1 to {}",
                        current - 1
                    ),
                };
                errors.at(
                    upcast.from_span,
                    format!(
                        "cannot upcast from version {from}: {readable}; if the payload changed since version {from}, \
                         set `version = {}` on the variant",
                        from + 1
                    ),
                );
            }
        }
        let missing: Vec<u32> = (1..current)
            .filter(|v| !self.upcasts.iter().any(|u| u.from == *v))
            .collect();
        let payload = match &self.payload {
            Type::Path(path) => path
                .path
                .segments
                .last()
                .map_or_else(|| name.to_string(), |s| s.ident.to_string()),
            _ => name.to_string(),
        };
        for version in missing {
            errors.at(
                self.version_span,
                format!(
                    "`{name}` is at version {current} but declares no upcast from version {version}, \
                     so stored version-{version} events could not be read: add \
                     `upcast(from = {version}, with = {payload}V{version})` (the version-{version} payload type, \
                     converted into the next version with `From`) or `upcast(from = {version}, raw = a_json_fn)` \
                     (a `fn(serde_json::Value) -> Result<serde_json::Value, annals::UpcastError>`)"
                ),
            );
        }
        // Sorted by `from`: every raw step after the first typed one is out of order.
        let first_typed = self
            .upcasts
            .iter()
            .find(|u| matches!(u.step, UpcastStep::Typed(_)));
        if let Some(typed) = first_typed {
            for upcast in &self.upcasts {
                if let UpcastStep::Raw(path) = &upcast.step
                    && upcast.from > typed.from
                {
                    let (typed, raw) = (typed.from, upcast.from);
                    errors.spanned(
                        path,
                        format!(
                            "`{name}`: this raw upcast from version {raw} follows a typed one (from version {typed}), \
                             and a decoded payload cannot go back to JSON: make this one typed too \
                             (`upcast(from = {raw}, with = ...)`), or make the earlier ones raw. \
                             Raw upcasts must come before typed ones"
                        ),
                    );
                }
            }
        }
    }
}

impl Upcast {
    fn parse(meta: &syn::meta::ParseNestedMeta) -> syn::Result<Upcast> {
        let mut from: Option<(u32, Span)> = None;
        let mut step: Option<UpcastStep> = None;
        let mut seen = SeenKeys::default();
        meta.parse_nested_meta(|inner| {
            if inner.path.is_ident("from") {
                seen.first(&inner, "from")?;
                from = Some(attr::parse_u32(&inner, "`from`")?);
            } else if inner.path.is_ident("with") || inner.path.is_ident("raw") {
                seen.first(&inner, if inner.path.is_ident("with") { "with" } else { "raw" })?;
                if step.is_some() {
                    return Err(inner.error(
                        "an upcast takes one of `with = Type` (typed) or `raw = function` (JSON), not both",
                    ));
                }
                step = Some(if inner.path.is_ident("with") {
                    UpcastStep::Typed(inner.value()?.parse()?)
                } else {
                    UpcastStep::Raw(inner.value()?.parse()?)
                });
            } else {
                return Err(attr::unknown_key(&inner, "upcast", UPCAST_KEYS));
            }
            Ok(())
        })?;
        let (from, from_span) = from.ok_or_else(|| {
            meta.error("this upcast does not say which stored version it reads: add `from = N`")
        })?;
        let step = step.ok_or_else(|| {
            meta.error("this upcast does not say how to read the old version: add `with = OldPayloadType` (converted with `From`) \
                 or `raw = a_json_fn` (a `fn(serde_json::Value) -> Result<serde_json::Value, annals::UpcastError>`)")
        })?;
        Ok(Upcast {
            from,
            from_span,
            step,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{EventEnum, UpcastStep};
    use crate::errors::Errors;
    use syn::parse_quote;

    fn parse(input: syn::DeriveInput) -> (EventEnum, Vec<String>) {
        let mut errors = Errors::default();
        let model = EventEnum::parse(&input, &mut errors);
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
    fn a_duplicate_alias_is_reported_with_its_first_use() {
        let (_, errors) = parse(parse_quote! {
            enum AccountEvent {
                Opened(Opened),
                #[event(aliases = ["Opened"])]
                Deposited(Deposited),
            }
        });
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            errors[0].contains("remove it from `aliases`"),
            "{}",
            errors[0]
        );
        assert!(errors[1].contains("first used here"), "{}", errors[1]);
    }

    #[test]
    fn a_broken_variant_attribute_does_not_add_chain_errors() {
        // Parsing stops at `bogus`, so the upcast is never read: no "missing upcast" noise.
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
}
