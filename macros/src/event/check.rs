//! The checks of an event enum that need more than one attribute: stored names unique
//! across the enum, and each variant's chain of upcasts.

use std::collections::BTreeMap;

use syn::{Ident, Type};

use super::model::{EventEnum, EventVariant, UpcastStep};
use crate::errors::Errors;

impl EventEnum {
    /// Every name and alias must be unique across the enum: a stored event type must map to
    /// exactly one variant. One error per repeat, at the repeat, naming the first use.
    pub fn check_names(&self, errors: &mut Errors) {
        let mut first_use: BTreeMap<&str, &Ident> = BTreeMap::new();
        for variant in &self.variants {
            let names = std::iter::once((&variant.name, false))
                .chain(variant.aliases.iter().map(|alias| (alias, true)));
            for ((name, span), is_alias) in names {
                let Some(owner) = first_use.get(name.as_str()) else {
                    first_use.insert(name, &variant.ident);
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
            }
        }
    }
}

impl EventVariant {
    /// Whether the upcasts read every older version once, raw steps before typed ones: what
    /// the decoding of older versions is generated from.
    pub fn chain_is_complete(&self) -> bool {
        let froms: Vec<u32> = self.upcasts.iter().map(|u| u.from).collect();
        let raw_after_typed = self.upcasts.windows(2).any(|pair| {
            matches!(pair[0].step, UpcastStep::Typed(_))
                && matches!(pair[1].step, UpcastStep::Raw(_))
        });
        self.attrs_complete && froms == (1..self.version).collect::<Vec<_>>() && !raw_after_typed
    }

    /// Upcasts must cover every older version exactly once (1..version), and a typed step
    /// can only be followed by another typed step (a typed payload cannot feed a JSON
    /// upcaster).
    pub fn check_chain(&self, errors: &mut Errors) {
        if !self.attrs_complete {
            // The mistake in the attribute is reported; its chain would only repeat it.
            return;
        }
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
        for version in missing {
            let payload = payload_name(&self.payload, name);
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

/// The payload type's last segment (`Deposited`), for advice.
fn payload_name(payload: &Type, variant: &Ident) -> String {
    match payload {
        Type::Path(path) => path
            .path
            .segments
            .last()
            .map_or_else(|| variant.to_string(), |s| s.ident.to_string()),
        _ => variant.to_string(),
    }
}
