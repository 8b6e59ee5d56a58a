//! Parses `#[command(...)]` and `#[id]` into a checked model.

use proc_macro2::Span;
use syn::{Data, DeriveInput, Fields, Ident, LitStr, Member, Path, Type};

use crate::attr::{self, SeenKeys};
use crate::errors::Errors;

const STRUCT_KEYS: &[&str] = &["aggregate", "expect", "id", "name", "crate"];
const ENUM_KEYS: &[&str] = &["aggregate", "crate"];
const EXPECT_VALUES: &str = "`new` (the stream must not exist), `existing` (the default) or `any`";

pub struct CommandModel {
    pub header: Header,
    pub shape: Shape,
}

/// What every `Command` impl needs, including the fallback one emitted after an error.
pub struct Header {
    pub ident: Ident,
    pub krate: Path,
    pub aggregate: Type,
}

/// What parsing produced: the header whenever `aggregate = ...` was found (enough for a
/// fallback impl), the shape when the body is valid. A complete model also needs no error.
pub struct Parsed {
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
    pub fn parse(input: &DeriveInput, errors: &mut Errors) -> Parsed {
        let ident = &input.ident;
        attr::reject_generics(&input.generics, "a command", errors);
        let is_enum = matches!(input.data, Data::Enum(_));
        let attrs = Attrs::parse(input, if is_enum { ENUM_KEYS } else { STRUCT_KEYS }, errors);
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
                Some(Shape::Enum { variants })
            }
            Data::Union(data) => {
                errors.spanned(
                    data.union_token,
                    "`Command` derives on a struct or an enum, not a union",
                );
                return Parsed {
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
        let header = attrs.aggregate.map(|aggregate| Header {
            ident: ident.clone(),
            krate: attrs.krate.unwrap_or_else(attr::default_crate_path),
            aggregate,
        });
        Parsed { header, shape }
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
            errors.spanned(
                marked[0].2,
                format!("`{first}` is marked `#[id]` first here"),
            );
            return None;
        }
        match (marked.pop(), accessor) {
            (Some((member, ty, _)), None) => Some(Target::Field(member, Box::new(ty))),
            (None, Some(path)) => Some(Target::Accessor(path)),
            (Some((member, _, attribute)), Some(path)) => {
                let field = member_name(&member);
                errors.spanned(
                    attribute,
                    format!(
                        "command `{ident}` names its target id twice, with `#[id]` on `{field}` and with \
                         `#[command(id = ...)]`: keep one of them"
                    ),
                );
                errors.spanned(path, "the id accessor is declared here");
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

#[cfg(test)]
mod tests {
    use super::{CommandModel, Expect, Parsed, Shape, Target};
    use crate::errors::Errors;
    use syn::{Member, parse_quote};

    fn parse(input: syn::DeriveInput) -> (Parsed, Vec<String>) {
        let mut errors = Errors::default();
        let parsed = CommandModel::parse(&input, &mut errors);
        (parsed, errors.messages())
    }

    /// The struct shape of a command that parsed without error.
    fn struct_shape(input: syn::DeriveInput) -> (String, Expect, Target) {
        let (parsed, errors) = parse(input);
        assert!(errors.is_empty(), "{errors:?}");
        assert!(parsed.header.is_some());
        match parsed.shape {
            Some(Shape::Struct {
                name,
                expect,
                target,
            }) => (name, expect, target),
            _ => panic!("expected a struct command"),
        }
    }

    #[test]
    fn an_id_field_and_the_defaults() {
        let (name, expect, target) = struct_shape(parse_quote! {
            #[command(aggregate = Account)]
            struct Deposit { #[id] account: String, amount: i64 }
        });
        assert_eq!(name, "Deposit");
        assert!(matches!(expect, Expect::Existing));
        assert!(
            matches!(target, Target::Field(Member::Named(field), ty) if field == "account" && *ty == parse_quote!(String))
        );
    }

    #[test]
    fn a_tuple_field_an_accessor_a_name_and_every_expect() {
        let (_, expect, target) = struct_shape(parse_quote! {
            #[command(aggregate = Account, expect = new)]
            struct Close(String, #[id] AccountId);
        });
        assert!(matches!(expect, Expect::New));
        assert!(matches!(target, Target::Field(Member::Unnamed(index), _) if index.index == 1));

        let (name, expect, target) = struct_shape(parse_quote! {
            #[command(aggregate = Account, expect = any, id = Transfer::source, name = "MoveMoney")]
            struct Transfer { from: String, to: String }
        });
        assert_eq!(name, "MoveMoney");
        assert!(matches!(expect, Expect::Any));
        assert!(matches!(target, Target::Accessor(path) if path == parse_quote!(Transfer::source)));
    }

    #[test]
    fn id_mistakes_keep_the_header_for_the_fallback_impl() {
        let (parsed, errors) = parse(parse_quote! {
            #[command(aggregate = Account)]
            struct Deposit { amount: i64 }
        });
        assert!(parsed.header.is_some() && parsed.shape.is_none());
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("has no target id"), "{}", errors[0]);

        let (parsed, errors) = parse(parse_quote! {
            #[command(aggregate = Account)]
            struct Deposit { #[id] account: String, #[id] branch: String }
        });
        assert!(parsed.header.is_some() && parsed.shape.is_none());
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            errors[0].contains("marks both `account` and `branch`"),
            "{}",
            errors[0]
        );
    }

    #[test]
    fn attribute_mistakes_are_rejected_at_their_key() {
        let (parsed, errors) = parse(parse_quote! {
            #[command(expect = exists)]
            struct Deposit { #[id] account: String }
        });
        assert!(parsed.header.is_none());
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            errors[0].starts_with("unknown `expect = exists`"),
            "{}",
            errors[0]
        );
        assert!(
            errors[1].contains("does not say which aggregate"),
            "{}",
            errors[1]
        );

        let (_, errors) = parse(parse_quote! {
            #[command(aggregate = Account, retries = 3)]
            struct Deposit { #[id] account: String }
        });
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with("unknown command attribute `retries`"),
            "{}",
            errors[0]
        );
    }

    #[test]
    fn an_enum_routes_its_variants_and_takes_no_struct_keys() {
        let (parsed, errors) = parse(parse_quote! {
            #[command(aggregate = Account)]
            enum AccountCommand { Open(Open), Deposit(Deposit) }
        });
        assert!(errors.is_empty(), "{errors:?}");
        let Some(Shape::Enum { variants }) = parsed.shape else {
            panic!("expected an enum command");
        };
        let idents: Vec<_> = variants.iter().map(|(v, _)| v.to_string()).collect();
        assert_eq!(idents, ["Open", "Deposit"]);

        let (_, errors) = parse(parse_quote! {
            #[command(aggregate = Account, expect = new)]
            enum AccountCommand { Open(Open), Close { account: String } }
        });
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            errors[0].starts_with("`expect` belongs on each command struct"),
            "{}",
            errors[0]
        );
        assert!(
            errors[1].contains("must wrap exactly one command struct"),
            "{}",
            errors[1]
        );
    }
}
