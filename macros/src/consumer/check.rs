//! The checks of `events(...)` that need the whole list: each enum listed once, each
//! selection naming variants, each variant once.

use quote::ToTokens;
use syn::{Ident, Path};

use super::model::{ConsumerModel, Entry, EventSource, Selection};
use crate::errors::Errors;

impl ConsumerModel {
    /// The event enums read, in the order of `events(...)`, each listed once: each enum
    /// listed once, each selection non-empty and without repeats; every mistake is
    /// recorded in `errors`, when given, and the entries without one are kept.
    ///
    /// A saga's are those of `starts(...)` and `events(...)` together, one per enum (an
    /// enum may be in both lists: it then reads the variants of both).
    pub fn sources(&self, errors: Option<&mut Errors>) -> Vec<EventSource> {
        let mut scratch = Errors::default();
        let errors = errors.unwrap_or(&mut scratch);
        let mut sources = check_events(self.kind.attr(), &self.entries, errors);
        for start in check_events(self.kind.attr(), &self.starts, errors) {
            let key = path_key(&start.path);
            match sources
                .iter_mut()
                .find(|source| path_key(&source.path) == key)
            {
                Some(source) => source.selection = source.selection.union(start.selection),
                None => sources.push(start),
            }
        }
        sources
    }

    /// A saga's `starts(...)`, checked.
    pub fn starting(&self) -> Vec<EventSource> {
        check_events(self.kind.attr(), &self.starts, &mut Errors::default())
    }
}

/// How an enum's path is compared across lists.
pub fn path_key(path: &Path) -> String {
    path.to_token_stream().to_string().replace(' ', "")
}

impl Selection {
    /// Both selections' variants (every variant if either is).
    fn union(&self, other: Selection) -> Selection {
        match (self, other) {
            (Selection::Variants(mine), Selection::Variants(theirs)) => {
                let mut merged = mine.clone();
                merged.extend(theirs.into_iter().filter(|variant| !mine.contains(variant)));
                Selection::Variants(merged)
            }
            _ => Selection::All,
        }
    }
}

/// Each enum listed once, each selection non-empty and without repeats.
fn check_events(noun: &str, entries: &[Entry], errors: &mut Errors) -> Vec<EventSource> {
    let mut sources: Vec<(String, EventSource)> = Vec::new();
    for entry in entries {
        let key = path_key(&entry.path);
        if entry.selection.is_none()
            && let Some((owner, variant)) = variant_path(&entry.path)
        {
            errors.spanned(
                &entry.path,
                format!(
                    "`{key}` names a variant, not an event enum: to read only some variants of \
                     `{owner}`, select them in braces, `{owner}::{{{variant}}}`"
                ),
            );
            continue;
        }
        if let Some((_, first)) = sources.iter().find(|(k, _)| *k == key) {
            let merged = match (&first.selection, &entry.selection) {
                (Selection::Variants(first), Some((_, second))) => {
                    let mut merged: Vec<String> = first.iter().map(Ident::to_string).collect();
                    for variant in second.iter().map(Ident::to_string) {
                        if !merged.contains(&variant) {
                            merged.push(variant);
                        }
                    }
                    format!("`{key}::{{{}}}`", merged.join(", "))
                }
                _ => format!("`{key}`"),
            };
            errors.spanned(
                &entry.path,
                format!(
                    "`{key}` is listed twice in `events(...)`; list it once: {merged} \
                     (an enum alone reads every variant, `{key}::{{...}}` only those named)"
                ),
            );
            continue;
        }
        let selection = match &entry.selection {
            None => Selection::All,
            Some((brace, variants)) => {
                if variants.is_empty() {
                    errors.at(
                        brace.span.join(),
                        format!(
                            "no variant of `{key}` is selected: name the variants the {noun} reads, \
                             `{key}::{{VariantA, VariantB}}`, or write `{key}` alone to read every variant"
                        ),
                    );
                    continue;
                }
                let mut unique: Vec<Ident> = Vec::with_capacity(variants.len());
                for variant in variants {
                    if unique.contains(variant) {
                        errors.at(
                            variant.span(),
                            format!("variant `{variant}` of `{key}` is selected twice; remove one"),
                        );
                    } else {
                        unique.push(variant.clone());
                    }
                }
                Selection::Variants(unique)
            }
        };
        sources.push((
            key,
            EventSource {
                path: entry.path.clone(),
                selection,
            },
        ));
    }
    sources.into_iter().map(|(_, source)| source).collect()
}

/// `AccountEvent::Deposited`: a path whose next-to-last segment is a type (UpperCamelCase,
/// where modules are snake_case) names a variant. Returns the enum and the variant.
fn variant_path(path: &Path) -> Option<(String, &Ident)> {
    let idents: Vec<&Ident> = path.segments.iter().map(|s| &s.ident).collect();
    let [enum_path @ .., owner, variant] = idents.as_slice() else {
        return None;
    };
    let owner_is_a_type = owner
        .to_string()
        .starts_with(|c: char| c.is_ascii_uppercase());
    owner_is_a_type.then(|| {
        let leading = if path.leading_colon.is_some() {
            "::"
        } else {
            ""
        };
        let owner = enum_path
            .iter()
            .chain([owner])
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("::");
        (format!("{leading}{owner}"), *variant)
    })
}
