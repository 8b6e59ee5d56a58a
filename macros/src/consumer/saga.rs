//! Parses `#[saga(...)]`: the events that start an instance, the events it reacts to, and
//! how an event finds its instance.

use syn::{Data, DeriveInput, Ident, LitStr};

use super::model::{ConsumerModel, Entry, Kind, SagaId, parse_events};
use crate::attr::{self, Attr, keys};
use crate::errors::Errors;

keys! {
    enum SagaKey {
        Name = "name" ("name = \"...\""),
        Starts = "starts" ("starts(...)"),
        Events = "events" ("events(...)"),
        Id = "id" ("id = field"),
        Crate = "crate" ("crate = \"...\""),
    }
}

/// Always returns a model (with defaults where the attribute is wrong), so that the impl is
/// generated after a mistake too.
pub fn parse(input: &DeriveInput, errors: &mut Errors) -> ConsumerModel {
    let ident = &input.ident;
    if let Data::Union(data) = &input.data {
        errors.spanned(
            data.union_token,
            "`Saga` derives on the struct (or enum) that holds the saga's state, not a union",
        );
    }
    let generic = attr::reject_generics(&input.generics, "a saga", errors);
    let mut krate = attr::default_crate_path();
    let mut name: Option<String> = None;
    let mut starts: Option<Vec<Entry>> = None;
    let mut events: Option<Vec<Entry>> = None;
    let mut id: Option<SagaId> = None;
    // Whether `starts` / `id` were given at all, even malformed (their error is reported).
    let (mut starts_given, mut id_given) = (false, false);
    let saga = Attr::new("saga", "saga");
    attr::parse_keys(&input.attrs, &saga, errors, |key, meta, _| {
        match key {
            SagaKey::Name => {
                let lit: LitStr = meta.value()?.parse()?;
                if lit.value().is_empty() {
                    return Err(syn::Error::new(
                        lit.span(),
                        "a saga name cannot be empty: it names the saga's streams, checkpoint and step keys",
                    ));
                }
                name = Some(lit.value());
            }
            SagaKey::Starts => {
                starts_given = true;
                starts = Some(parse_events("saga", meta)?);
            }
            SagaKey::Events => events = Some(parse_events("saga", meta)?),
            SagaKey::Id => {
                id_given = true;
                let value: Ident = meta.value()?.parse().map_err(|error| {
                    syn::Error::new(
                        error.span(),
                        "`id` names the payload field that holds the instance's id, `id = order_id`, \
                         or is `id = correlation` for the event's correlation id",
                    )
                })?;
                id = Some(if value == "correlation" {
                    SagaId::Correlation
                } else {
                    SagaId::Field(value)
                });
            }
            SagaKey::Crate => krate = attr::parse_crate_path(meta)?,
        }
        Ok(())
    });
    if !starts_given {
        errors.at(
            ident.span(),
            format!(
                "saga `{ident}` does not say which events start an instance: add `#[saga(starts(...))]`, \
                 e.g. `starts(OrderEvent::{{Placed}})`"
            ),
        );
    }
    if !id_given {
        errors.at(
            ident.span(),
            format!(
                "saga `{ident}` does not say how an event finds its instance: add `#[saga(id = field)]` \
                 naming the payload field that holds the instance's id (every consumed payload has it), \
                 or `#[saga(id = correlation)]` to use the events' correlation id"
            ),
        );
    }
    ConsumerModel {
        kind: Kind::Saga,
        ident: ident.clone(),
        krate,
        name: name.unwrap_or_else(|| attr::snake_case(&ident.to_string())),
        version: 1,
        entries: events.unwrap_or_default(),
        generic,
        starts: starts.unwrap_or_default(),
        id,
    }
}
