//! Generates the `Projection` impl of a checked projection.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::{Ident, Path};

use super::model::{EventSource, ProjectionModel, Selection};
use crate::attr::{local, located, respan};
use crate::derive::in_const;

pub fn expand(model: &ProjectionModel) -> TokenStream {
    let ProjectionModel {
        ident,
        krate,
        name,
        version,
        ..
    } = model;
    let events = &model.sources(None);
    let (names, recorded) = (local("names"), local("recorded"));
    let consumed = events.iter().map(|source| {
        let path = &source.path;
        let collect = collect_types(krate, source, &names);
        quote! {
            {
                let mut #names = ::std::vec::Vec::new();
                #collect
                (#krate::store::Owner::of::<#path>(), #names)
            }
        }
    });
    let dispatch = events
        .iter()
        .map(|source| dispatch(krate, source, &recorded));
    let selects = events
        .iter()
        .any(|source| matches!(source.selection, Selection::Variants(_)));
    let (event, projection) = (local("event"), local("projection"));
    // Selected variants are handed on through this function, the payload first, so that
    // its type is known before the handler is looked up: rustc would otherwise guess the
    // payload type from a sole `Project` impl and report a type mismatch instead of the
    // missing handler.
    let project = selects.then(|| {
        quote! {
            #[inline]
            fn project<E, P: #krate::Project<E>>(#event: #krate::Recorded<'_, E>, #projection: &mut P) {
                #krate::Project::<E>::project(#projection, #event)
            }
        }
    });
    let distinct_names = distinct_names(krate, ident, events);
    in_const(quote! {
            #project
            #distinct_names

            #[automatically_derived]
            impl #krate::Projection for #ident {
                const NAME: &'static str = #name;
                const VERSION: u32 = #version;

                fn event_types() -> ::std::vec::Vec<&'static str> {
                    ::core::iter::Iterator::collect(::core::iter::Iterator::flat_map(
                        ::core::iter::IntoIterator::into_iter(
                            <Self as #krate::Projection>::consumed_enums(),
                        ),
                        |(_, #names)| #names,
                    ))
                }

                fn consumed_enums() -> ::std::vec::Vec<(#krate::store::Owner, ::std::vec::Vec<&'static str>)> {
                    ::std::vec::Vec::from([#(#consumed),*])
                }

                fn project_recorded(
                    &mut self,
                    #recorded: &#krate::store::RecordedEvent,
                ) -> ::core::result::Result<(), #krate::EventDecodeError> {
                    #(#dispatch)*
                    ::core::result::Result::Ok(())
                }
            }
    })
}

/// A constant that fails to compile, naming the name and both enums, when two of the
/// enums read store events under one name: the projection could not tell them apart.
fn distinct_names(krate: &Path, ident: &Ident, events: &[EventSource]) -> Option<TokenStream> {
    if events.len() < 2 {
        return None;
    }
    let consumer = ident.to_string();
    let enums = events.iter().map(|source| {
        let path = &source.path;
        let written = quote::ToTokens::to_token_stream(path)
            .to_string()
            .replace(' ', "");
        let (variants, selected) = match &source.selection {
            Selection::All => {
                let span = first_span(path);
                let krate_here = respan(krate, span);
                let variants = quote_spanned! {span=>
                    <#path as #krate_here::dispatch::ConsumedBy<#ident>>::VARIANTS
                };
                (variants, Vec::new())
            }
            Selection::Variants(variants) => (
                quote! { <#path as #krate::Event>::VARIANTS },
                variants.iter().map(Ident::to_string).collect(),
            ),
        };
        quote! {
            #krate::__private::ConsumedEnum {
                path: #written,
                variants: #variants,
                selected: &[#(#selected),*],
            }
        }
    });
    // Reported at the second enum listed: the one a clash is found with.
    let span = first_span(&events[1].path);
    let krate_here = respan(krate, span);
    Some(quote_spanned! {span=>
        const _: () = #krate_here::__private::assert_no_shared_names(#consumer, &[#(#enums),*]);
    })
}

/// Appends the stored names `source` consumes to `names`: all of the enum's, or those of
/// the selected variants in listing order (aliases included).
fn collect_types(krate: &Path, source: &EventSource, names: &Ident) -> TokenStream {
    let path = &source.path;
    match &source.selection {
        Selection::All => {
            let span = first_span(path);
            let krate_here = respan(krate, span);
            quote_spanned! {span=>
                #names.extend_from_slice(<#path as #krate_here::dispatch::ConsumedBy<Self>>::NAMES);
            }
        }
        Selection::Variants(variants) => {
            let variants = variants.iter().map(Ident::to_string);
            let (wanted, info) = (local("wanted"), local("info"));
            quote! {
                for #wanted in [#(#variants),*] {
                    for #info in <#path as #krate::Event>::VARIANTS {
                        if #info.variant == #wanted {
                            ::core::iter::Extend::extend(
                                &mut #names,
                                #krate::__private::VariantInfo::stored_names(#info),
                            );
                        }
                    }
                }
            }
        }
    }
}

/// `if` the recorded event is one `source` consumes: decode it, hand it to its handler and
/// return.
fn dispatch(krate: &Path, source: &EventSource, recorded: &Ident) -> TokenStream {
    let path = &source.path;
    match &source.selection {
        Selection::All => {
            // Spanned at the enum in `events(...)`: a missing `Project<Payload>` impl is
            // reported there, naming the projection and the payload.
            let span = first_span(path);
            let krate_here = respan(krate, span);
            let recorded_here = located(recorded, span);
            let project = quote_spanned! {span=>
                <#path as #krate_here::dispatch::ConsumedBy<Self>>::project_recorded(#recorded_here, self)
            };
            quote! {
                if #project? {
                    return ::core::result::Result::Ok(());
                }
            }
        }
        Selection::Variants(variants) => {
            let (info, stored, payload) = (local("info"), local("stored"), local("payload"));
            let names = variants.iter().map(Ident::to_string);
            // Each arm spanned at its variant in `events(...)`: a variant the enum lacks, or a
            // missing `Project<Payload>` impl, is reported at the variant the user named.
            let arms = variants.iter().map(|variant| {
                let span = variant.span();
                let krate_here = respan(krate, span);
                let (payload, recorded) = (located(&payload, span), located(recorded, span));
                quote_spanned! {span=>
                    #path::#variant(#payload) => project(
                        #krate_here::Recorded::new(#recorded, #payload),
                        self,
                    ),
                }
            });
            // Only the selected variants are decoded: another variant of the enum is ignored
            // like any event the projection does not read.
            quote! {
                if ::core::iter::Iterator::any(
                    &mut ::core::iter::IntoIterator::into_iter(<#path as #krate::Event>::VARIANTS),
                    |#info| {
                        (#(#info.variant == #names)||*)
                            && ::core::iter::Iterator::any(
                                &mut #krate::__private::VariantInfo::stored_names(#info),
                                |#stored| #stored == #recorded.event_type,
                            )
                    },
                ) {
                    match <#path as #krate::Event>::decode_recorded(#recorded)? {
                        #(#arms)*
                        _ => {}
                    }
                    return ::core::result::Result::Ok(());
                }
            }
        }
    }
}

/// Where the code handing on a whole enum is reported: the path's first segment (rustc
/// underlines the whole `<Path as ...>` type from there; stable proc macros cannot join
/// spans themselves).
fn first_span(path: &Path) -> Span {
    path.segments
        .first()
        .map(|segment| segment.ident.span())
        .unwrap_or_else(Span::call_site)
}
