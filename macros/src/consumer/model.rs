//! Parses `#[projection(...)]` and `#[publisher(...)]` into a model: both name the event
//! enums they consume the same way.

use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Data, DeriveInput, Ident, LitStr, Path, PathSegment, Token, token};

use crate::attr::{self, Attr, keys};
use crate::errors::Errors;

keys! {
    enum ConsumerKey {
        Name = "name" ("name = \"...\""),
        Version = "version" ("version = ..."),
        Events = "events" ("events(...)"),
        Crate = "crate" ("crate = \"...\""),
    }
}

/// What consumes the events: the derive being expanded.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    /// `#[derive(Projection)]`: a read model.
    Projection,
    /// `#[derive(Publisher)]`: the mapping of domain events to public messages.
    Publisher,
    /// `#[derive(Saga)]`: a process manager.
    Saga,
}

impl Kind {
    /// The attribute's name, which is also the noun in messages.
    pub fn attr(self) -> &'static str {
        match self {
            Kind::Projection => "projection",
            Kind::Publisher => "publisher",
            Kind::Saga => "saga",
        }
    }

    /// The derive's name.
    pub fn derive(self) -> &'static str {
        match self {
            Kind::Projection => "Projection",
            Kind::Publisher => "Publisher",
            Kind::Saga => "Saga",
        }
    }
}

pub struct ConsumerModel {
    pub kind: Kind,
    pub ident: Ident,
    pub krate: Path,
    /// The checkpoint's name: `name = "..."`, or the type's name in snake_case.
    pub name: String,
    /// The read model's version (always 1 for a publisher).
    pub version: u32,
    /// `events(...)` as written; [`ConsumerModel::sources`] checks them.
    pub(super) entries: Vec<Entry>,
    /// Whether the type has generic parameters (the mistake that stops generation).
    pub generic: bool,
    /// A saga's `starts(...)` as written.
    pub(super) starts: Vec<Entry>,
    /// How a saga's events find their instance (`id = ...`).
    pub id: Option<SagaId>,
}

/// `id = ...` of a saga.
pub enum SagaId {
    /// `id = correlation`.
    Correlation,
    /// `id = field`.
    Field(Ident),
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

impl ConsumerModel {
    /// Always returns a model (with defaults where the attribute is wrong), so that the
    /// impl is generated after a mistake too.
    pub fn parse(kind: Kind, input: &DeriveInput, errors: &mut Errors) -> ConsumerModel {
        if kind == Kind::Saga {
            return super::saga::parse(input, errors);
        }
        let ident = &input.ident;
        let noun = kind.attr();
        if let Data::Union(data) = &input.data {
            let holds = match kind {
                Kind::Projection => "the read model",
                Kind::Publisher => "the publisher's mapping",
                Kind::Saga => "the saga's state",
            };
            errors.spanned(
                data.union_token,
                format!(
                    "`{}` derives on the struct (or enum) that holds {holds}, not a union",
                    kind.derive()
                ),
            );
        }
        let generic = attr::reject_generics(&input.generics, &format!("a {noun}"), errors);
        let mut krate = attr::default_crate_path();
        let mut name: Option<String> = None;
        let mut version: Option<u32> = None;
        let mut entries: Option<Vec<Entry>> = None;
        // Whether `events` was given at all, even malformed (its error is then reported).
        let mut events_given = false;
        let consumer = Attr::new(noun, noun);
        attr::parse_keys(&input.attrs, &consumer, errors, |key, meta, _| {
            match key {
                ConsumerKey::Name => {
                    let lit: LitStr = meta.value()?.parse()?;
                    if lit.value().is_empty() {
                        return Err(syn::Error::new(
                            lit.span(),
                            format!(
                                "a {noun} name cannot be empty: it is the key of the {noun}'s checkpoint"
                            ),
                        ));
                    }
                    name = Some(lit.value());
                }
                ConsumerKey::Version if kind == Kind::Publisher => {
                    return Err(meta.error(
                        "a publisher has no version: version each public message instead \
                         (`Message::json(subject, message_type, version, &payload)`)",
                    ));
                }
                ConsumerKey::Version => {
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
                ConsumerKey::Events => {
                    events_given = true;
                    entries = Some(parse_events(noun, meta)?);
                }
                ConsumerKey::Crate => krate = attr::parse_crate_path(meta)?,
            }
            Ok(())
        });
        if !events_given {
            errors.at(
                ident.span(),
                format!(
                    "{noun} `{ident}` does not say which events it reads: add `#[{noun}(events(...))]` \
                     listing its event enums, e.g. `events(AccountEvent)` for every variant of `AccountEvent` \
                     or `events(AccountEvent::{{Opened, Deposited}})` for some of them"
                ),
            );
        }
        ConsumerModel {
            kind,
            ident: ident.clone(),
            krate,
            name: name.unwrap_or_else(|| attr::snake_case(&ident.to_string())),
            version: version.unwrap_or(1),
            entries: entries.unwrap_or_default(),
            generic,
            starts: Vec::new(),
            id: None,
        }
    }
}

/// `events(...)`, up to the checks that need the whole list.
pub(super) fn parse_events(
    noun: &str,
    meta: &syn::meta::ParseNestedMeta,
) -> syn::Result<Vec<Entry>> {
    if !meta.input.peek(token::Paren) {
        return Err(meta.error(format!(
            "`events` lists the event enums the {noun} reads: write `events(AccountEvent)`, \
             or `events(AccountEvent::{{Opened, Deposited}})` for some of their variants",
        )));
    }
    let content;
    let parens = syn::parenthesized!(content in meta.input);
    let entries = Punctuated::<Entry, Token![,]>::parse_terminated(&content)?;
    if entries.is_empty() {
        return Err(syn::Error::new(
            parens.span.join(),
            format!(
                "`events()` is empty: list the event enums the {noun} reads, e.g. `events(AccountEvent)`"
            ),
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
