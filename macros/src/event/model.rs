//! Reads an event enum and its `#[event(...)]` attributes into a model.

use proc_macro2::Span;
use syn::{Data, DeriveInput, Fields, Ident, LitStr, Path, Type};

use crate::attr::{self, Attr, keys};
use crate::errors::Errors;

keys! {
    enum EnumKey {
        Crate = "crate" ("crate = \"...\""),
    }
}

keys! {
    enum VariantKey {
        Name = "name" ("name = \"...\""),
        Aliases = "aliases" ("aliases = [...]"),
        Version = "version" ("version = ..."),
        Upcast = "upcast" ("upcast(from = ..., with = ...)"),
    }
    repeatable [Upcast]
}

keys! {
    enum UpcastKey {
        From = "from" ("from = ..."),
        With = "with" ("with = ..."),
        Raw = "raw" ("raw = ..."),
    }
}

const ON_A_VARIANT: &str =
    "belongs on a variant: put `#[event({key} = ...)]` above the variant it describes";

pub struct EventEnum {
    pub ident: Ident,
    pub krate: Path,
    /// The variants that wrap one payload, in order.
    pub variants: Vec<EventVariant>,
    /// Whether every variant of the enum is in `variants`.
    pub complete: bool,
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
    /// False when an `#[event(...)]` of this variant had a mistake: its chain is then not
    /// checked (it would only repeat the mistake) nor generated.
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
    pub fn parse(input: &DeriveInput, errors: &mut Errors) -> Option<EventEnum> {
        let mut model = EventEnum {
            ident: input.ident.clone(),
            krate: attr::default_crate_path(),
            variants: Vec::new(),
            complete: true,
        };
        let elsewhere = [
            ("name", ON_A_VARIANT),
            ("aliases", ON_A_VARIANT),
            ("version", ON_A_VARIANT),
            ("upcast", ON_A_VARIANT),
        ];
        let enum_attr = Attr::new("event", "event enum").with_elsewhere(&elsewhere);
        attr::parse_keys(&input.attrs, &enum_attr, errors, |key, meta, _| {
            match key {
                EnumKey::Crate => model.krate = attr::parse_crate_path(meta)?,
            }
            Ok(())
        });
        let generic = attr::reject_generics(&input.generics, "an event enum", errors);
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
                return None;
            }
            Data::Union(data) => {
                errors.spanned(data.union_token, "`Event` derives on an enum, not a union");
                return None;
            }
        };
        if data.variants.is_empty() {
            errors.at(
                input.ident.span(),
                "an event enum needs at least one variant",
            );
        }
        for variant in &data.variants {
            match EventVariant::parse(variant, errors) {
                Some(parsed) => model.variants.push(parsed),
                None => model.complete = false,
            }
        }
        // A generic enum is itself the mistake: an impl without its generics would only
        // add errors.
        (!generic).then_some(model)
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
        let errors_before = errors.len();
        let elsewhere = [("crate", "belongs on the enum, not on a variant")];
        let variant_attr = Attr::new("event", "event variant").with_elsewhere(&elsewhere);
        attr::parse_keys(
            &variant.attrs,
            &variant_attr,
            errors,
            |key, meta, errors| {
                match key {
                    VariantKey::Name => {
                        let lit: LitStr = meta.value()?.parse()?;
                        if lit.value().is_empty() {
                            return Err(syn::Error::new(
                                lit.span(),
                                "an event name cannot be empty",
                            ));
                        }
                        parsed.name = (lit.value(), lit.span());
                    }
                    VariantKey::Aliases => {
                        let content;
                        let value = meta.value()?;
                        syn::bracketed!(content in value);
                        let list = content.parse_terminated(
                            <LitStr as syn::parse::Parse>::parse,
                            syn::Token![,],
                        )?;
                        parsed
                            .aliases
                            .extend(list.iter().map(|lit| (lit.value(), lit.span())));
                    }
                    VariantKey::Version => {
                        let (version, span) = attr::parse_u32(meta, "`version`")?;
                        if version == 0 {
                            return Err(syn::Error::new(span, "schema versions start at 1"));
                        }
                        parsed.version = version;
                        parsed.version_span = span;
                    }
                    VariantKey::Upcast => {
                        if let Some(upcast) = Upcast::parse(meta, errors)? {
                            parsed.upcasts.push(upcast);
                        }
                    }
                }
                Ok(())
            },
        );
        parsed.attrs_complete = errors.len() == errors_before;
        parsed.upcasts.sort_by_key(|u| u.from);
        Some(parsed)
    }
}

impl Upcast {
    /// `upcast(from = N, with = Type)` or `upcast(from = N, raw = function)`; `None` after a
    /// mistake (recorded in `errors`).
    fn parse(
        meta: &syn::meta::ParseNestedMeta,
        errors: &mut Errors,
    ) -> syn::Result<Option<Upcast>> {
        let mut from: Option<(u32, Span)> = None;
        let mut step: Option<UpcastStep> = None;
        let upcast_attr = Attr::new("upcast", "upcast");
        let errors_before = errors.len();
        attr::parse_nested(meta, &upcast_attr, errors, |key, inner, _| {
            match key {
                UpcastKey::From => from = Some(attr::parse_u32(inner, "`from`")?),
                UpcastKey::With | UpcastKey::Raw if step.is_some() => {
                    return Err(inner.error(
                        "an upcast takes one of `with = Type` (typed) or `raw = function` (JSON), not both",
                    ));
                }
                UpcastKey::With => step = Some(UpcastStep::Typed(inner.value()?.parse()?)),
                UpcastKey::Raw => step = Some(UpcastStep::Raw(inner.value()?.parse()?)),
            }
            Ok(())
        })?;
        if errors.len() > errors_before {
            return Ok(None);
        }
        let (from, from_span) = from.ok_or_else(|| {
            meta.error("this upcast does not say which stored version it reads: add `from = N`")
        })?;
        let step = step.ok_or_else(|| {
            meta.error("this upcast does not say how to read the old version: add `with = OldPayloadType` (converted with `From`) \
                 or `raw = a_json_fn` (a `fn(serde_json::Value) -> Result<serde_json::Value, annals::UpcastError>`)")
        })?;
        Ok(Some(Upcast {
            from,
            from_span,
            step,
        }))
    }
}
