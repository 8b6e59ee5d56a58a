//! Parses `#[command(...)]` and `#[id]` into a checked model.

use proc_macro2::Span;
use syn::{Data, DeriveInput, Fields, Ident, LitStr, Member, Path, Type};

use crate::attr::{self, Attr, keys};
use crate::errors::Errors;

keys! {
    enum StructKey {
        Aggregate = "aggregate" ("aggregate = ..."),
        Expect = "expect" ("expect = ..."),
        Id = "id" ("id = ..."),
        Name = "name" ("name = \"...\""),
        Crate = "crate" ("crate = \"...\""),
    }
}

keys! {
    enum EnumKey {
        Aggregate = "aggregate" ("aggregate = ..."),
        Crate = "crate" ("crate = \"...\""),
    }
}
const EXPECT_VALUES: &str = "`new` (the stream must not exist), `existing` (the default) or `any`";

/// What every `Command` impl needs, including the fallback one emitted after an error.
pub struct Header {
    pub ident: Ident,
    pub krate: Path,
    pub aggregate: Type,
}

/// What parsing produced: the header whenever `aggregate = ...` was found (enough for a
/// fallback impl), the shape when the body is valid. A complete model also needs no error.
pub struct CommandModel {
    pub header: Option<Header>,
    pub shape: Option<Shape>,
}

pub enum Shape {
    /// One command.
    Struct {
        name: String,
        expect: Expect,
        target: Target,
    },
    /// An enum whose variants each wrap one command struct.
    Enum {
        variants: Vec<(Ident, Type)>,
        /// Whether every variant of the enum wraps one command (is in `variants`).
        complete: bool,
    },
}

#[derive(Clone, Copy)]
pub enum Expect {
    New,
    Existing,
    Any,
}

pub enum Target {
    /// The field marked `#[id]`, with its type (for a spanned `Display` requirement).
    Field(Member, Box<Type>),
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
    pub fn parse(input: &DeriveInput, errors: &mut Errors) -> CommandModel {
        let ident = &input.ident;
        let generic = attr::reject_generics(&input.generics, "a command", errors);
        let is_enum = matches!(input.data, Data::Enum(_));
        let attrs = Attrs::parse(input, is_enum, errors);
        let shape = match &input.data {
            Data::Struct(data) => {
                let target = Self::target(ident, &data.fields, attrs.id, errors);
                target.map(|target| Shape::Struct {
                    name: attrs.name.unwrap_or_else(|| ident.to_string()),
                    expect: attrs.expect.map_or(Expect::Existing, |(e, _)| e),
                    target,
                })
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
                let complete = variants.len() == data.variants.len();
                Some(Shape::Enum { variants, complete })
            }
            Data::Union(data) => {
                errors.spanned(
                    data.union_token,
                    "`Command` derives on a struct or an enum, not a union",
                );
                return CommandModel {
                    header: None,
                    shape: None,
                };
            }
        };
        if attrs.aggregate.is_none() {
            errors.at(
                ident.span(),
                format!(
                    "command `{ident}` does not say which aggregate handles it: \
                     add `#[command(aggregate = YourAggregate)]` above it"
                ),
            );
        }
        // A generic type is itself the mistake: an impl without its generics would only add
        // errors.
        let header = attrs
            .aggregate
            .filter(|_| !generic)
            .map(|aggregate| Header {
                ident: ident.clone(),
                krate: attrs.krate.unwrap_or_else(attr::default_crate_path),
                aggregate,
            });
        CommandModel { header, shape }
    }

    /// Exactly one of: one `#[id]` field, or an `id = accessor`.
    fn target(
        ident: &Ident,
        fields: &Fields,
        accessor: Option<Path>,
        errors: &mut Errors,
    ) -> Option<Target> {
        // The field, its type, and the `#[id]` attribute (for spans).
        let mut marked: Vec<(Member, Type, &syn::Attribute)> = Vec::new();
        for (index, field) in fields.iter().enumerate() {
            for attribute in field.attrs.iter().filter(|a| a.path().is_ident("id")) {
                if let Err(e) = attribute.meta.require_path_only() {
                    errors.push(syn::Error::new(e.span(), "`#[id]` takes no arguments"));
                }
                let member = match &field.ident {
                    Some(name) => Member::Named(name.clone()),
                    None => Member::Unnamed(index.into()),
                };
                marked.push((member, field.ty.clone(), attribute));
            }
        }
        reject_stray_field_attrs(fields, errors);
        if marked.len() > 1 {
            let first = member_name(&marked[0].0);
            for (member, _, attribute) in &marked[1..] {
                let this = member_name(member);
                errors.spanned(
                    attribute,
                    format!(
                        "command `{ident}` marks both `{first}` and `{this}` with `#[id]`; a command \
                         targets one aggregate instance: keep `#[id]` on the field holding its id only"
                    ),
                );
            }
            return None;
        }
        match (marked.pop(), accessor) {
            (Some((member, ty, _)), None) => Some(Target::Field(member, Box::new(ty))),
            (None, Some(path)) => Some(Target::Accessor(path)),
            (Some((member, _, attribute)), Some(_)) => {
                let field = member_name(&member);
                errors.spanned(
                    attribute,
                    format!(
                        "command `{ident}` names its target id twice, with `#[id]` on `{field}` and with \
                         `#[command(id = ...)]`: keep one of them"
                    ),
                );
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
    /// `#[command(...)]` of a command struct, or of an enum of commands (which takes only
    /// `aggregate` and `crate`).
    fn parse(input: &DeriveInput, is_enum: bool, errors: &mut Errors) -> Attrs {
        let mut attrs = Attrs::default();
        if is_enum {
            let on_structs = "belongs on each command struct, not on the enum that routes them";
            let elsewhere = [
                ("expect", on_structs),
                ("id", on_structs),
                ("name", on_structs),
            ];
            let command_enum = Attr::new("command", "command enum").with_elsewhere(&elsewhere);
            attr::parse_keys(&input.attrs, &command_enum, errors, |key, meta, _| {
                match key {
                    EnumKey::Aggregate => attrs.aggregate = Some(meta.value()?.parse()?),
                    EnumKey::Crate => attrs.krate = Some(attr::parse_crate_path(meta)?),
                }
                Ok(())
            });
            return attrs;
        }
        let command = Attr::new("command", "command");
        attr::parse_keys(&input.attrs, &command, errors, |key, meta, _| {
            match key {
                StructKey::Aggregate => attrs.aggregate = Some(meta.value()?.parse()?),
                StructKey::Crate => attrs.krate = Some(attr::parse_crate_path(meta)?),
                StructKey::Id => attrs.id = Some(meta.value()?.parse()?),
                StructKey::Name => attrs.name = Some(meta.value()?.parse::<LitStr>()?.value()),
                StructKey::Expect => attrs.expect = Some(parse_expect(meta)?),
            }
            Ok(())
        });
        attrs
    }
}

/// `expect = new | existing | any`.
fn parse_expect(meta: &syn::meta::ParseNestedMeta) -> syn::Result<(Expect, Span)> {
    let value: Ident = meta
        .value()?
        .parse()
        .map_err(|e| syn::Error::new(e.span(), format!("`expect` takes {EXPECT_VALUES}")))?;
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
    Ok((expect, value.span()))
}

/// `account` for a named field, `0` for a tuple field.
fn member_name(member: &Member) -> String {
    match member {
        Member::Named(ident) => ident.to_string(),
        Member::Unnamed(index) => index.index.to_string(),
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
