//! The dispatch an event enum generates for each kind of handler: `ApplyTo` (aggregates
//! and folds), `ProjectTo` (projections), `PublishTo` (publishers) and `ReactTo` (sagas). Each is a generic impl over the handler type,
//! bounded by one handler impl per payload, each bound spanned at its variant's payload so
//! that a missing handler is reported there.

use proc_macro2::{Ident, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use crate::attr::{local, respan};

/// The body of one arm of a dispatch, given the variant's payload binding and type.
pub type Arm = Box<dyn Fn(&Ident, &syn::Type) -> TokenStream>;

/// One dispatch trait.
pub struct Dispatch {
    /// The trait, under `annals::dispatch` (`ApplyTo`).
    pub dispatch: &'static str,
    /// The handler trait each payload needs, under the crate root (`Apply`,
    /// `messaging::Publish`).
    pub handler: &'static str,
    /// The generic parameter for the handler's type.
    pub target: &'static str,
    /// The method's signature.
    pub signature: TokenStream,
    /// The body of one arm, given the variant's payload binding and type.
    pub arm: Arm,
}

/// `impl<T: ?Sized> annals::dispatch::Trait<T> for Enum where T: Handler<P1> + ... { match }`.
///
/// `variants` are the variants that parsed (ident, payload); `complete` says whether they
/// are all of the enum's, or an arm for the others is needed to keep the impl compiling
/// after a mistake.
pub fn dispatch_impl(
    krate: &syn::Path,
    ident: &Ident,
    variants: &[(&Ident, &syn::Type)],
    complete: bool,
    spec: &Dispatch,
) -> TokenStream {
    let target = Ident::new(spec.target, ident.span());
    let dispatch = Ident::new(spec.dispatch, ident.span());
    let bounds = variants.iter().map(|(_, payload)| {
        let span = payload.span();
        let krate = respan(krate, span);
        let handler: syn::Path = syn::parse_str(spec.handler).expect("a handler trait's path");
        let handler = respan(&handler, span);
        quote_spanned! {span=> #target: #krate::#handler<#payload>, }
    });
    let event = local("event");
    let arms = variants.iter().map(|(variant, payload)| {
        let body = (spec.arm)(&event, payload);
        quote! { Self::#variant(#event) => #body, }
    });
    let rest = (!complete).then(|| quote! { _ => ::core::unreachable!(), });
    let signature = &spec.signature;
    // The impl is spanned at the enum's name, not at the derive: rustc then reports an
    // unmet bound as "required for `AccountEvent` to implement `ApplyTo<Account>`" with the
    // payload whose bound failed, instead of blaming a derive-added type parameter and
    // advising a hand-written impl.
    let span = ident.span();
    let krate_here = respan(krate, span);
    quote_spanned! {span=>
        #[automatically_derived]
        impl<#target: ?::core::marker::Sized> #krate_here::dispatch::#dispatch<#target> for #ident
        where
            #(#bounds)*
        {
            #[inline]
            #signature {
                match self { #(#arms)* #rest }
            }
        }
    }
}
