//! Parses `#[command(...)]` and `#[id]` into a checked model.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, Ident, LitStr, Member, Path, Type};

use crate::attr::{self, SeenKeys};
use crate::errors::Errors;

const STRUCT_KEYS: &[&str] = &["aggregate", "expect", "id", "name", "crate"];
const ENUM_KEYS: &[&str] = &["aggregate", "crate"];
const EXPECT_VALUES: &str = "`new` (the stream must not exist), `existing` (the default) or `any`";

pub struct CommandModel {
    pub ident: Ident,
    pub krate: Path,
    pub aggregate: Type,
    pub shape: Shape,
}

pub enum Shape {
    /// One command.
    Struct {
        name: String,
        expect: Expect,
        target: Target,
    },
    /// An enum whose variants each wrap one command struct.
    Enum { variants: Vec<(Ident, Type)> },
}

#[derive(Clone, Copy)]
pub enum Expect {
    New,
    Existing,
    Any,
}

pub enum Target {
    /// The field marked `#[id]`, with its type (for a spanned `Display` requirement).
    Field(Member, Type),
    /// `#[command(id = path)]`: a function `fn(&Self) -> impl Display`.
    Accessor(Path),
}

#[derive(Default)]
struct Attrs {
    krate: Option<Path>,
    aggregate: Option<Type>,
    expect: Option<(Expect, Span)>,
    id: Option<Path>,
    name: Option<String>,
}

impl CommandModel {
    pub fn parse(input: &DeriveInput, errors: &mut Errors) -> Option<CommandModel> {
        let ident = &input.ident;
        attr::reject_generics(&input.generics, "a command", errors);
        let is_enum = matches!(input.data, Data::Enum(_));
        let attrs = Attrs::parse(input, if is_enum { ENUM_KEYS } else { STRUCT_KEYS }, errors);
        let shape = match &input.data {
            Data::Struct(data) => {
                let target = Self::target(ident, &data.fields, attrs.id, errors);
                Shape::Struct {
                    name: attrs.name.unwrap_or_else(|| ident.to_string()),
                    expect: attrs.expect.map_or(Expect::Existing, |(e, _)| e),
                    target: target?,
                }
            }
            Data::Enum(data) => {
                let mut variants = Vec::new();
                for variant in &data.variants {
                    reject_stray_attrs(&variant.attrs, errors);
                    match &variant.fields {
                        Fields::Unnamed(fields) if fields.unnamed.len() == 1 => {
                            variants.push((variant.ident.clone(), fields.unnamed[0].ty.clone()));
                        }
                        _ => {
                            let v = &variant.ident;
                            errors.spanned(
                                variant,
                                format!(
                                    "command variant `{v}` must wrap exactly one command struct: write `{v}({v})` \
                                     and put `#[derive(Command)]` on `struct {v} {{ #[id] ... }}`"
                                ),
                            );
                        }
                    }
                }
                if data.variants.is_empty() {
                    errors.at(ident.span(), "a command enum needs at least one variant");
                }
                Shape::Enum { variants }
            }
            Data::Union(data) => {
                errors.spanned(
                    data.union_token,
                    "`Command` derives on a struct or an enum, not a union",
                );
                return None;
            }
        };
        let Some(aggregate) = attrs.aggregate else {
            errors.at(
                ident.span(),
                format!("command `{ident}` does not say which aggregate handles it: add `#[command(aggregate = YourAggregate)]`"),
            );
            return None;
        };
        Some(CommandModel {
            ident: ident.clone(),
            krate: attrs.krate.unwrap_or_else(attr::default_crate_path),
            aggregate,
            shape,
        })
    }

    /// Exactly one of: one `#[id]` field, or an `id = accessor`.
    fn target(
        ident: &Ident,
        fields: &Fields,
        accessor: Option<Path>,
        errors: &mut Errors,
    ) -> Option<Target> {
        let mut marked: Vec<(Member, Type, Span)> = Vec::new();
        for (index, field) in fields.iter().enumerate() {
            for attribute in field.attrs.iter().filter(|a| a.path().is_ident("id")) {
                if let Err(e) = attribute.meta.require_path_only() {
                    errors.push(syn::Error::new(e.span(), "`#[id]` takes no arguments"));
                }
                let member = match &field.ident {
                    Some(name) => Member::Named(name.clone()),
                    None => Member::Unnamed(index.into()),
                };
                marked.push((member, field.ty.clone(), attribute.span()));
            }
        }
        reject_stray_field_attrs(fields, errors);
        if marked.len() > 1 {
            for (_, _, span) in &marked[1..] {
                errors.at(*span, format!("command `{ident}` marks more than one field `#[id]`; a command targets one aggregate instance, so keep one"));
            }
            errors.at(marked[0].2, "first `#[id]` field here");
            return None;
        }
        match (marked.pop(), accessor) {
            (Some((member, ty, _)), None) => Some(Target::Field(member, ty)),
            (None, Some(path)) => Some(Target::Accessor(path)),
            (Some((_, _, span)), Some(path)) => {
                errors.at(
                    span,
                    "this `#[id]` field conflicts with `#[command(id = ...)]`; keep one of them",
                );
                errors.spanned(path, "the accessor declared here");
                None
            }
            (None, None) => {
                errors.at(
                    ident.span(),
                    format!(
                        "command `{ident}` has no target id: mark the field holding the aggregate's id with `#[id]`, \
                         or name an accessor with `#[command(id = path::to::fn)]` (a `fn(&{ident}) -> impl Display`)"
                    ),
                );
                None
            }
        }
    }
}

impl Attrs {
    fn parse(input: &DeriveInput, accepted: &'static [&'static str], errors: &mut Errors) -> Attrs {
        let mut attrs = Attrs::default();
        let mut seen = SeenKeys::default();
        let what = if accepted.len() == STRUCT_KEYS.len() {
            "command"
        } else {
            "command enum"
        };
        for attribute in input.attrs.iter().filter(|a| a.path().is_ident("command")) {
            let result = attribute.parse_nested_meta(|meta| {
                let key = accepted.iter().find(|k| meta.path.is_ident(k)).copied();
                let Some(key) = key else {
                    if ENUM_KEYS.len() == accepted.len()
                        && STRUCT_KEYS.iter().any(|k| meta.path.is_ident(k))
                    {
                        return Err(meta.error(format!(
                            "`{}` belongs on each command struct, not on the enum that routes them",
                            attr::key_name(&meta)
                        )));
                    }
                    return Err(attr::unknown_key(&meta, what, accepted));
                };
                seen.first(&meta, key)?;
                match key {
                    "aggregate" => attrs.aggregate = Some(meta.value()?.parse()?),
                    "crate" => attrs.krate = Some(attr::parse_crate_path(&meta)?),
                    "id" => attrs.id = Some(meta.value()?.parse()?),
                    "name" => attrs.name = Some(meta.value()?.parse::<LitStr>()?.value()),
                    "expect" => {
                        let value: Ident = meta.value()?.parse().map_err(|e| {
                            syn::Error::new(e.span(), format!("`expect` takes {EXPECT_VALUES}"))
                        })?;
                        let expect = match value.to_string().as_str() {
                            "new" => Expect::New,
                            "existing" => Expect::Existing,
                            "any" => Expect::Any,
                            other => {
                                return Err(syn::Error::new(
                                    value.span(),
                                    format!("unknown `expect = {other}`; write {EXPECT_VALUES}"),
                                ));
                            }
                        };
                        attrs.expect = Some((expect, value.span()));
                    }
                    _ => unreachable!("every accepted key is handled"),
                }
                Ok(())
            });
            if let Err(e) = result {
                errors.push(e);
            }
        }
        attrs
    }
}

fn reject_stray_attrs(attrs: &[syn::Attribute], errors: &mut Errors) {
    for attribute in attrs {
        if attribute.path().is_ident("command") || attribute.path().is_ident("id") {
            errors.spanned(
                attribute,
                "command variants take no attributes: put `#[command(...)]` and `#[id]` on the command struct the variant wraps",
            );
        }
    }
}

fn reject_stray_field_attrs(fields: &Fields, errors: &mut Errors) {
    for field in fields {
        for attribute in field.attrs.iter().filter(|a| a.path().is_ident("command")) {
            errors.spanned(attribute, "`#[command(...)]` goes on the command struct; mark the target id field with `#[id]`");
        }
    }
}
