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
                errors.spanned(
                    data.struct_token,
                    "`Event` derives on an enum whose variants wrap the event payloads, \
                     e.g. `enum AccountEvent { Opened(Opened), Deposited(Deposited) }`",
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
        for variant in &model.variants {
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

    /// Every name and alias must be unique across the enum.
    fn check_names(&self, errors: &mut Errors) {
        let mut first_use: BTreeMap<&str, (&Ident, Span)> = BTreeMap::new();
        for variant in &self.variants {
            let names = std::iter::once(&variant.name).chain(&variant.aliases);
            for (name, span) in names {
                if let Some((owner, first_span)) = first_use.get(name.as_str()) {
                    errors.at(
                        *span,
                        format!(
                            "event name `{name}` is already used by variant `{owner}`; \
                             names and aliases must be unique: give this variant its own `name = \"...\"`"
                        ),
                    );
                    errors.at(*first_span, format!("`{name}` is first used here"));
                } else {
                    first_use.insert(name, (&variant.ident, *span));
                }
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
                errors.at(
                    upcast.from_span,
                    format!(
                        "cannot upcast `{name}` from version {}: its current version is {current}, \
                         so upcasts read versions 1 to {}; raise `version = ...` if the payload changed again",
                        upcast.from,
                        current.saturating_sub(1)
                    ),
                );
            }
        }
        let missing: Vec<u32> = (1..current)
            .filter(|v| !self.upcasts.iter().any(|u| u.from == *v))
            .collect();
        for version in missing {
            errors.at(
                self.version_span,
                format!(
                    "`{name}` is at version {current} but declares no upcast from version {version}: \
                     add `upcast(from = {version}, with = {name}V{version})` (a type that converts with `From`) \
                     or `upcast(from = {version}, raw = a_json_fn)`"
                ),
            );
        }
        for pair in self.upcasts.windows(2) {
            if let (UpcastStep::Typed(_), UpcastStep::Raw(path)) = (&pair[0].step, &pair[1].step) {
                if pair[1].from == pair[0].from + 1 {
                    errors.spanned(
                        path,
                        format!(
                            "the upcast from version {} of `{name}` is typed, so the one from version {} must be \
                             typed too (`with = ...`): a decoded payload cannot be handed back to a JSON upcaster. \
                             Move raw upcasts before typed ones",
                            pair[0].from, pair[1].from
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
            meta.error("this upcast does not say which version it reads: add `from = N`")
        })?;
        let step = step.ok_or_else(|| {
            meta.error("this upcast needs `with = OldPayloadType` (converted with `From`) or `raw = fn(Value) -> Result<Value, UpcastError>`")
        })?;
        Ok(Upcast {
            from,
            from_span,
            step,
        })
    }
}
