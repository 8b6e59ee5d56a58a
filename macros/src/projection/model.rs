//! Parses `#[projection(...)]` into a checked model.

use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Data, DeriveInput, Ident, LitStr, Path, PathSegment, Token, token};

use crate::attr::{self, Attr, keys};
use crate::errors::Errors;

keys! {
    enum ProjectionKey {
        Name = "name" ("name = \"projection_name\""),
        Version = "version" ("version = ..."),
        Events = "events" ("events(...)"),
        Crate = "crate" ("crate = \"...\""),
    }
}

pub struct ProjectionModel {
    pub ident: Ident,
    pub krate: Path,
    /// The checkpoint name: `name = "..."`, or the type's name in snake_case.
    pub name: String,
    pub version: u32,
    /// `events(...)` as written; [`ProjectionModel::sources`] checks them.
    pub(super) entries: Vec<Entry>,
    /// Whether the type has generic parameters (the mistake that stops generation).
    pub generic: bool,
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
    /// Always returns a model (with defaults where the attribute is wrong), so that the
    /// impl is generated after a mistake too.
    pub fn parse(input: &DeriveInput, errors: &mut Errors) -> ProjectionModel {
        let ident = &input.ident;
        if let Data::Union(data) = &input.data {
            errors.spanned(
                data.union_token,
                "`Projection` derives on the struct (or enum) that holds the read model, not a union",
            );
        }
        let generic = attr::reject_generics(&input.generics, "a projection", errors);
        let mut krate = attr::default_crate_path();
        let mut name: Option<String> = None;
        let mut version: Option<u32> = None;
        let mut entries: Option<Vec<Entry>> = None;
        // Whether `events` was given at all, even malformed (its error is then reported).
        let mut events_given = false;
        let projection = Attr::new("projection", "projection");
        attr::parse_keys(&input.attrs, &projection, errors, |key, meta, _| {
            match key {
                ProjectionKey::Name => {
                    let lit: LitStr = meta.value()?.parse()?;
                    if lit.value().is_empty() {
                        return Err(syn::Error::new(
                            lit.span(),
                            "a projection name cannot be empty: it is the key of the projection's checkpoint",
                        ));
                    }
                    name = Some(lit.value());
                }
                ProjectionKey::Version => {
                    let (v, span) = attr::parse_u32(meta, "the projection `version`")?;
                    if v == 0 {
                        return Err(syn::Error::new(
                            span,
                            "projection versions start at 1: write `version = 1`, and bump it to rebuild \
                             the read model from the start",
                        ));
                    }
                    version = Some(v);
                }
                ProjectionKey::Events => {
                    events_given = true;
                    entries = Some(parse_events(meta)?);
                }
                ProjectionKey::Crate => krate = attr::parse_crate_path(meta)?,
            }
            Ok(())
        });
        if !events_given {
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
            entries: entries.unwrap_or_default(),
            generic,
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
pub(super) struct Entry {
    pub(super) path: Path,
    pub(super) selection: Option<(token::Brace, Vec<Ident>)>,
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
