//! Attribute parsing shared by the derives: each attribute's keys declared once (an enum,
//! [`keys!`]), every `#[name(...)]` read by one core that rejects unknown and repeated keys
//! at their span, suggests the key a typo meant, and reads on after a mistake so that every
//! mistake is reported.

use proc_macro2::Span;
use syn::meta::ParseNestedMeta;
use syn::{Attribute, LitStr, Path};

use crate::errors::Errors;

/// The keys one attribute accepts.
pub trait Key: Copy + PartialEq + 'static {
    /// Each key's name, with how it is written (for suggestions).
    const ALL: &'static [(Self, &'static str, &'static str)];
    /// The keys that may be given more than once (`upcast`, one per older version).
    const REPEATABLE: &'static [Self] = &[];
}

/// Declares an attribute's keys, each with its name and how it is written:
/// `keys!(enum AggregateKey { Event = "event" ("event = MyEvent"), ... })`; a key that may
/// repeat is listed after `repeatable`.
macro_rules! keys {
    ($vis:vis enum $name:ident { $($variant:ident = $key:literal ($form:literal)),+ $(,)? }
     $(repeatable [$($repeatable:ident),*])?) => {
        #[derive(Clone, Copy, PartialEq, Eq, Debug)]
        $vis enum $name { $($variant),+ }

        impl $crate::attr::Key for $name {
            const ALL: &'static [(Self, &'static str, &'static str)] =
                &[$(($name::$variant, $key, $form)),+];
            $(const REPEATABLE: &'static [Self] = &[$($name::$repeatable),*];)?
        }
    };
}
pub(crate) use keys;

/// How one attribute is read.
pub struct Attr<'a> {
    /// The attribute's path: `aggregate` in `#[aggregate(...)]`.
    pub path: &'static str,
    /// What the attribute is, for messages: `aggregate`, `event variant`, ...
    pub what: &'static str,
    /// Keys that belong to another attribute, with where they go: an error that says so
    /// instead of "unknown" (`{key}` in it stands for the key).
    pub elsewhere: &'a [(&'static str, &'static str)],
}

impl Attr<'static> {
    /// The attribute `#[path(...)]`, called `what` in messages.
    pub const fn new(path: &'static str, what: &'static str) -> Self {
        Attr {
            path,
            what,
            elsewhere: &[],
        }
    }
}

impl<'a> Attr<'a> {
    /// With keys that belong elsewhere, and where (see [`Attr::elsewhere`]).
    pub fn with_elsewhere(self, elsewhere: &'a [(&'static str, &'static str)]) -> Attr<'a> {
        Attr { elsewhere, ..self }
    }
}

/// Reads every `#[path(...)]` of `attrs`, handing each key to `on_key`. An unknown key, a
/// repeated key and an error in a key's value are recorded in `errors` at their span, and
/// reading goes on with the next key (`on_key` records more errors in the `Errors` it is
/// given, and returns the one that ends its key). A key that is a typo of an accepted one (`evnet`) is
/// reported with the key it meant, and its value is read as that key's, so that the
/// derive still generates what the user meant and nothing else fails.
pub fn parse_keys<K: Key>(
    attrs: &[Attribute],
    attr: &Attr<'_>,
    errors: &mut Errors,
    mut on_key: impl FnMut(K, &ParseNestedMeta, &mut Errors) -> syn::Result<()>,
) {
    // Across attributes: `#[a(name = "x")] #[a(name = "y")]` sets `name` twice too.
    let mut seen: Vec<K> = Vec::new();
    for attribute in attrs.iter().filter(|a| a.path().is_ident(attr.path)) {
        let before = errors.len();
        let result = attribute.parse_nested_meta(|meta| {
            parse_key(&meta, attr, &mut seen, errors, &mut on_key);
            Ok(())
        });
        // After a key's mistake, what is left over only repeats it.
        if let Err(error) = result
            && errors.len() == before
        {
            errors.push(error);
        }
    }
}

/// Reads the keys of a nested list (`snapshot(version = 1)`), like [`parse_keys`].
pub fn parse_nested<K: Key>(
    meta: &ParseNestedMeta,
    attr: &Attr<'_>,
    errors: &mut Errors,
    mut on_key: impl FnMut(K, &ParseNestedMeta, &mut Errors) -> syn::Result<()>,
) -> syn::Result<()> {
    let mut seen: Vec<K> = Vec::new();
    let before = errors.len();
    let result = meta.parse_nested_meta(|inner| {
        parse_key(&inner, attr, &mut seen, errors, &mut on_key);
        Ok(())
    });
    // After a key's mistake, what is left over only repeats it.
    match result {
        Err(_) if errors.len() > before => Ok(()),
        result => result,
    }
}

fn parse_key<K: Key>(
    meta: &ParseNestedMeta,
    attr: &Attr<'_>,
    seen: &mut Vec<K>,
    errors: &mut Errors,
    on_key: &mut impl FnMut(K, &ParseNestedMeta, &mut Errors) -> syn::Result<()>,
) {
    let name = key_name(meta);
    let known = K::ALL.iter().find(|(_, key, _)| meta.path.is_ident(key));
    let result = match known {
        Some((key, _, _)) if seen.contains(key) && !K::REPEATABLE.contains(key) => {
            Err(meta.error(format!("`{name}` is set twice; keep one")))
        }
        Some((key, _, _)) => {
            seen.push(*key);
            on_key(*key, meta, errors)
        }
        None => {
            errors.push(unknown(meta, attr, &name, seen));
            // A typo: read the value as the key it meant (its errors are this one's).
            if let Some((key, _, _)) =
                suggestion::<K>(&name).filter(|(key, ..)| !seen.contains(key))
            {
                seen.push(*key);
                let _ = on_key(*key, meta, &mut Errors::default());
            }
            Ok(())
        }
    };
    if let Err(error) = result {
        errors.push(error);
    }
    skip_value(meta);
}

/// The error for a key the attribute does not accept.
fn unknown<K: Key>(meta: &ParseNestedMeta, attr: &Attr<'_>, name: &str, seen: &[K]) -> syn::Error {
    if let Some((_, place)) = attr.elsewhere.iter().find(|(key, _)| *key == name) {
        return meta.error(format!("`{name}` {}", place.replace("{key}", name)));
    }
    let accepted = K::ALL
        .iter()
        .map(|(_, key, _)| format!("`{key}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let what = attr.what;
    match suggestion::<K>(name).filter(|(key, ..)| !seen.contains(key)) {
        Some((_, _, form)) => meta.error(format!(
            "unknown {what} attribute `{name}`: did you mean `{form}`? (accepted: {accepted})"
        )),
        None => meta.error(format!(
            "unknown {what} attribute `{name}`; expected one of: {accepted}"
        )),
    }
}

/// The accepted key `name` is a typo of: one edit away (two for longer names).
fn suggestion<K: Key>(name: &str) -> Option<&'static (K, &'static str, &'static str)> {
    let limit = if name.len() > 5 { 2 } else { 1 };
    K::ALL
        .iter()
        .map(|entry| (edit_distance(name, entry.1), entry))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, entry)| entry)
}

/// Edits (insertions, deletions, substitutions, swaps of neighbours) from `a` to `b`.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

/// Skips what is left of the current key (after a mistake, or a value not read), so the
/// next key is read.
fn skip_value(meta: &ParseNestedMeta) {
    while !meta.input.is_empty() && !meta.input.peek(syn::Token![,]) {
        if meta.input.parse::<proc_macro2::TokenTree>().is_err() {
            break;
        }
    }
}

/// The name of the key being parsed, for messages.
pub fn key_name(meta: &ParseNestedMeta) -> String {
    quote::ToTokens::to_token_stream(&meta.path)
        .to_string()
        .replace(' ', "")
}

/// The path generated code uses to reach the runtime crate: `::annals` unless overridden
/// with `crate = "..."` by a crate that re-exports annals.
pub fn default_crate_path() -> Path {
    syn::parse_quote!(::annals)
}

/// Parses `crate = "path"`.
pub fn parse_crate_path(meta: &ParseNestedMeta) -> syn::Result<Path> {
    let lit: LitStr = meta.value()?.parse()?;
    lit.parse::<Path>().map_err(|_| {
        syn::Error::new(
            lit.span(),
            "expected a path such as `crate = \"::my_crate::annals\"`",
        )
    })
}

/// Parses a `u32` literal value, with an error at the literal.
pub fn parse_u32(meta: &ParseNestedMeta, what: &str) -> syn::Result<(u32, Span)> {
    let lit: syn::LitInt = meta.value()?.parse()?;
    let value = lit
        .base10_parse::<u32>()
        .map_err(|_| syn::Error::new(lit.span(), format!("{what} must be a whole number")))?;
    Ok((value, lit.span()))
}

/// Rejects generic parameters: the derives generate impls for concrete types only.
/// Returns whether there were any.
pub fn reject_generics(generics: &syn::Generics, what: &str, errors: &mut Errors) -> bool {
    if generics.params.is_empty() {
        return false;
    }
    errors.spanned(
        generics,
        format!(
            "{what} cannot have generic parameters: the annals derives implement their traits for \
             one concrete type; remove `{}` and use concrete types in its fields",
            quote::ToTokens::to_token_stream(generics)
                .to_string()
                .replace(' ', "")
                .replace(',', ", ")
        ),
    );
    true
}

/// `tokens` with every span set to `span`, so that rustc attributes what they form to the
/// user's code at `span` rather than to the derive.
pub fn respan(tokens: &impl quote::ToTokens, span: Span) -> proc_macro2::TokenStream {
    fn set(stream: proc_macro2::TokenStream, span: Span) -> proc_macro2::TokenStream {
        stream
            .into_iter()
            .map(|mut tree| {
                if let proc_macro2::TokenTree::Group(group) = &tree {
                    let mut inner =
                        proc_macro2::Group::new(group.delimiter(), set(group.stream(), span));
                    inner.set_span(span);
                    tree = proc_macro2::TokenTree::Group(inner);
                } else {
                    tree.set_span(span);
                }
                tree
            })
            .collect()
    }
    set(tokens.to_token_stream(), span)
}

/// `BankAccount` → `bank_account`.
pub fn snake_case(ident: &str) -> String {
    let mut out = String::with_capacity(ident.len() + 4);
    for (i, ch) in ident.char_indices() {
        if ch.is_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.extend(ch.to_lowercase());
        } else {
            out.push(ch);
        }
    }
    out
}

/// A local variable of generated code: `__annals_{name}`. The prefix keeps it apart from
/// the user's names both ways: it captures no user name (an upcaster function called
/// `value` still resolves to the function), and no user item captures it (a unit struct
/// called `event` next to a derive would turn a plain `event` binding into a pattern).
pub fn local(name: &str) -> proc_macro2::Ident {
    proc_macro2::Ident::new(&format!("__annals_{name}"), Span::call_site())
}

/// The same local, reported at `span` (for an error about the expression it appears in).
pub fn located(local: &proc_macro2::Ident, span: Span) -> proc_macro2::Ident {
    proc_macro2::Ident::new(&local.to_string(), span)
}

#[cfg(test)]
mod tests {
    use super::{edit_distance, snake_case};

    #[test]
    fn snake_case_splits_words_at_capitals() {
        assert_eq!(snake_case("BankAccount"), "bank_account");
        assert_eq!(snake_case("Account"), "account");
    }

    #[test]
    fn typos_are_one_edit_away() {
        assert_eq!(edit_distance("evnet", "event"), 1);
        assert_eq!(edit_distance("agregate", "aggregate"), 1);
        assert_eq!(edit_distance("events", "event"), 1);
        assert_eq!(edit_distance("stream", "event"), 5);
    }
}
