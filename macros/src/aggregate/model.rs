//! Reads `#[aggregate(...)]` into a model.

use proc_macro2::Span;
use syn::{Data, DeriveInput, Ident, LitStr, Path, Type};

use crate::attr::{self, Attr, keys};
use crate::errors::Errors;

keys! {
    enum AggregateKey {
        Event = "event" ("event = ..."),
        Error = "error" ("error = ..."),
        Kind = "kind" ("kind = \"...\""),
        Snapshot = "snapshot" ("snapshot(version = ...)"),
        Crate = "crate" ("crate = \"...\""),
    }
}

keys! {
    enum SnapshotKey {
        Version = "version" ("version = ..."),
    }
}

pub struct AggregateModel {
    pub ident: Ident,
    pub krate: Path,
    /// The event enum: `event = ...`, or (after the mistake of leaving it out) the
    /// conventional `{Name}Event`, so that the rest of the domain still type-checks.
    pub event: Type,
    /// The domain error: `error = ...`, or `{Name}Error` likewise.
    pub error: Type,
    pub kind: String,
    /// The snapshot schema version, and the span of the `snapshot` key.
    pub snapshot: Option<(u32, Span)>,
    /// The fingerprint of the state's shape, which snapshots are checked against.
    pub shape: u64,
}

impl AggregateModel {
    /// `None` for a generic type (nothing sensible can be generated).
    pub fn parse(input: &DeriveInput, errors: &mut Errors) -> Option<AggregateModel> {
        let ident = &input.ident;
        if let Data::Union(data) = &input.data {
            errors.spanned(
                data.union_token,
                "`Aggregate` derives on a struct or an enum, not a union",
            );
        }
        let generic = attr::reject_generics(&input.generics, "an aggregate", errors);
        let mut krate = attr::default_crate_path();
        let mut event: Option<Type> = None;
        let mut error: Option<Type> = None;
        let mut kind: Option<String> = None;
        let mut snapshot: Option<(u32, Span)> = None;
        let elsewhere = [(
            "command",
            "is not an aggregate attribute: commands name their aggregate, with `#[command(aggregate = ...)]` on each command",
        )];
        let aggregate = Attr::new("aggregate", "aggregate").with_elsewhere(&elsewhere);
        attr::parse_keys(&input.attrs, &aggregate, errors, |key, meta, errors| {
            match key {
                AggregateKey::Event => event = Some(meta.value()?.parse()?),
                AggregateKey::Error => error = Some(meta.value()?.parse()?),
                AggregateKey::Kind => {
                    let lit: LitStr = meta.value()?.parse()?;
                    if lit.value().is_empty() {
                        return Err(syn::Error::new(
                            lit.span(),
                            "the stream kind cannot be empty",
                        ));
                    }
                    kind = Some(lit.value());
                }
                AggregateKey::Snapshot => {
                    let key_span = meta
                        .path
                        .get_ident()
                        .map_or_else(Span::call_site, Ident::span);
                    if !meta.input.peek(syn::token::Paren) {
                        return Err(meta.error(
                            "`snapshot` takes the snapshot schema version: write `snapshot(version = 1)`, \
                             and bump it when the state's shape changes",
                        ));
                    }
                    let mut version = None;
                    let snapshot_attr = Attr::new("snapshot", "snapshot");
                    attr::parse_nested(meta, &snapshot_attr, errors, |key, inner, _| {
                        match key {
                            SnapshotKey::Version => {
                                let (v, span) = attr::parse_u32(inner, "the snapshot `version`")?;
                                if v == 0 {
                                    return Err(syn::Error::new(
                                        span,
                                        "snapshot versions start at 1",
                                    ));
                                }
                                version = Some(v);
                            }
                        }
                        Ok(())
                    })?;
                    let version = version.ok_or_else(|| {
                        meta.error("say which snapshot schema version this is: `snapshot(version = 1)`; bump it when the state's shape changes")
                    })?;
                    snapshot = Some((version, key_span));
                }
                AggregateKey::Crate => krate = attr::parse_crate_path(meta)?,
            }
            Ok(())
        });
        let has_attribute = input.attrs.iter().any(|a| a.path().is_ident("aggregate"));
        if !has_attribute {
            errors.at(
                ident.span(),
                format!(
                    "aggregate `{ident}` has no `#[aggregate(...)]`: add `#[aggregate(event = {ident}Event, error = {ident}Error)]` \
                     naming its event enum and its domain error"
                ),
            );
        } else {
            if event.is_none() {
                errors.at(
                    ident.span(),
                    format!(
                        "aggregate `{ident}` does not name its events: add `#[aggregate(event = {ident}Event, error = {ident}Error)]`"
                    ),
                );
            }
            if error.is_none() {
                errors.at(
                    ident.span(),
                    format!(
                        "aggregate `{ident}` does not name its domain error: add `error = {ident}Error` to `#[aggregate(...)]`"
                    ),
                );
            }
        }
        let conventional = |suffix: &str| -> Type {
            let name = Ident::new(&format!("{ident}{suffix}"), ident.span());
            syn::parse_quote!(#name)
        };
        (!generic).then(|| AggregateModel {
            ident: ident.clone(),
            krate,
            event: event.unwrap_or_else(|| conventional("Event")),
            error: error.unwrap_or_else(|| conventional("Error")),
            kind: kind.unwrap_or_else(|| attr::snake_case(&ident.to_string())),
            snapshot,
            shape: super::shape::fingerprint(input),
        })
    }
}
