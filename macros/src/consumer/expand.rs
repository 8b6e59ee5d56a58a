//! Generates the `Projection` impl of a checked projection, or the `Publisher` impl of a
//! checked publisher: the same reading of `events(...)`, a different handler trait.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::{Ident, Path};

use super::check::path_key;
use super::model::{ConsumerModel, EventSource, Kind, SagaId, Selection};
use crate::attr::{local, located, respan};
use crate::derive::in_const;

/// What differs between the kinds: the trait reaching an enum consumed whole, and the
/// handler of a selected variant.
struct Traits {
    /// Under `annals::dispatch`: `ConsumedBy` or `PublishedBy`.
    whole: Ident,
}

impl Traits {
    fn of(kind: Kind) -> Traits {
        let whole = match kind {
            Kind::Projection => "ConsumedBy",
            Kind::Publisher => "PublishedBy",
            Kind::Saga => "ReactedBy",
        };
        Traits {
            whole: Ident::new(whole, Span::call_site()),
        }
    }
}

pub fn expand(model: &ConsumerModel) -> TokenStream {
    let ConsumerModel {
        kind,
        ident,
        krate,
        name,
        version,
        ..
    } = model;
    let kind = *kind;
    let traits = &Traits::of(kind);
    let events = &model.sources(None);
    let (names, recorded) = (local("names"), local("recorded"));
    let consumed = events.iter().map(|source| {
        let path = &source.path;
        let collect = collect_types(krate, traits, source, &names);
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
        .map(|source| dispatch(krate, kind, traits, source, &recorded));
    let selects = events
        .iter()
        .any(|source| matches!(source.selection, Selection::Variants(_)));
    let (event, target) = (local("event"), local("target"));
    // Selected variants are handed on through this function, the payload first, so that
    // its type is known before the handler is looked up: rustc would otherwise guess the
    // payload type from a sole handler impl and report a type mismatch instead of the
    // missing handler.
    let hand_on = selects.then(|| match kind {
        Kind::Projection => quote! {
            #[inline]
            fn project<E, P: #krate::Project<E>>(#event: #krate::Recorded<'_, E>, #target: &mut P) {
                #krate::Project::<E>::project(#target, #event)
            }
        },
        Kind::Publisher => quote! {
            #[inline]
            fn publish<E, P: #krate::messaging::Publish<E>>(
                #event: #krate::Recorded<'_, E>,
                #target: &P,
            ) -> ::core::result::Result<
                ::core::option::Option<#krate::messaging::Message>,
                #krate::messaging::MappingError,
            > {
                #krate::messaging::Publish::<E>::publish(#target, #event)
            }
        },
        Kind::Saga => {
            let plan = local("plan");
            quote! {
                #[inline]
                fn react<E, S: #krate::saga::React<E>>(
                    #event: #krate::Recorded<'_, E>,
                    #target: &mut S,
                    #plan: &mut #krate::saga::Plan<<S as #krate::saga::Steps>::Step>,
                ) {
                    #krate::saga::React::<E>::react(#target, #event, #plan)
                }
            }
        }
    });
    let distinct_names = distinct_names(krate, traits, ident, events);
    let consumed_enums = quote! {
        fn event_types() -> ::std::vec::Vec<&'static str> {
            ::core::iter::Iterator::collect(::core::iter::Iterator::flat_map(
                ::core::iter::IntoIterator::into_iter(Self::consumed_enums()),
                |(_, #names)| #names,
            ))
        }

        fn consumed_enums() -> ::std::vec::Vec<(#krate::store::Owner, ::std::vec::Vec<&'static str>)> {
            ::std::vec::Vec::from([#(#consumed),*])
        }
    };
    let consumer = match kind {
        Kind::Projection => quote! {
            #[automatically_derived]
            impl #krate::Projection for #ident {
                const NAME: &'static str = #name;
                const VERSION: u32 = #version;

                #consumed_enums

                fn project_recorded(
                    &mut self,
                    #recorded: &#krate::store::RecordedEvent,
                ) -> ::core::result::Result<(), #krate::EventDecodeError> {
                    #(#dispatch)*
                    ::core::result::Result::Ok(())
                }
            }
        },
        Kind::Publisher => quote! {
            #[automatically_derived]
            impl #krate::messaging::Publisher for #ident {
                const NAME: &'static str = #name;

                #consumed_enums

                fn publish_recorded(
                    &self,
                    #recorded: &#krate::store::RecordedEvent,
                ) -> ::core::result::Result<
                    ::core::option::Option<#krate::messaging::Message>,
                    #krate::messaging::MappingError,
                > {
                    #(#dispatch)*
                    ::core::result::Result::Ok(::core::option::Option::None)
                }
            }
        },
        Kind::Saga => {
            let route = route(model, events, &recorded);
            let plan = local("plan");
            // The saga's other traits as a where clause, at the type's name: a missing
            // `Steps` impl, or a state that is not JSON, is one error there, and the
            // items below are checked as if it held instead of each repeating it.
            let span = ident.span();
            let krate_here = respan(krate, span);
            let holds = quote_spanned! {span=>
                #ident: #krate_here::saga::Steps + #krate_here::saga::SagaState
            };
            quote! {
                #[automatically_derived]
                impl #krate::saga::Saga for #ident where #holds {
                    const NAME: &'static str = #name;

                    #consumed_enums

                    #route

                    fn react_recorded(
                        &mut self,
                        #recorded: &#krate::store::RecordedEvent,
                        #plan: &mut #krate::saga::Plan<<Self as #krate::saga::Steps>::Step>,
                    ) -> ::core::result::Result<(), #krate::EventDecodeError> {
                        #(#dispatch)*
                        ::core::result::Result::Ok(())
                    }
                }
            }
        }
    };
    in_const(quote! {
        #hand_on
        #distinct_names
        #consumer
    })
}

/// A constant that fails to compile, naming the name and both enums, when two of the
/// enums read store events under one name: the consumer could not tell them apart.
fn distinct_names(
    krate: &Path,
    traits: &Traits,
    ident: &Ident,
    events: &[EventSource],
) -> Option<TokenStream> {
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
                let whole = &traits.whole;
                let variants = quote_spanned! {span=>
                    <#path as #krate_here::dispatch::#whole<#ident>>::VARIANTS
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
fn collect_types(
    krate: &Path,
    traits: &Traits,
    source: &EventSource,
    names: &Ident,
) -> TokenStream {
    let path = &source.path;
    match &source.selection {
        Selection::All => {
            let span = first_span(path);
            let krate_here = respan(krate, span);
            let whole = &traits.whole;
            quote_spanned! {span=>
                #names.extend_from_slice(<#path as #krate_here::dispatch::#whole<Self>>::NAMES);
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
fn dispatch(
    krate: &Path,
    kind: Kind,
    traits: &Traits,
    source: &EventSource,
    recorded: &Ident,
) -> TokenStream {
    let path = &source.path;
    match &source.selection {
        Selection::All => {
            // Spanned at the enum in `events(...)`: a missing handler impl is reported
            // there, naming the consumer and the payload.
            let span = first_span(path);
            let krate_here = respan(krate, span);
            let recorded_here = located(recorded, span);
            let whole = &traits.whole;
            match kind {
                Kind::Projection => {
                    let project = quote_spanned! {span=>
                        <#path as #krate_here::dispatch::#whole<Self>>::project_recorded(#recorded_here, self)
                    };
                    quote! {
                        if #project? {
                            return ::core::result::Result::Ok(());
                        }
                    }
                }
                Kind::Saga => {
                    let plan = local("plan");
                    let react = quote_spanned! {span=>
                        <#path as #krate_here::dispatch::#whole<Self>>::react_recorded(#recorded_here, self, #plan)
                    };
                    quote! {
                        if #react? {
                            return ::core::result::Result::Ok(());
                        }
                    }
                }
                Kind::Publisher => {
                    let message = local("message");
                    let publish = quote_spanned! {span=>
                        <#path as #krate_here::dispatch::#whole<Self>>::publish_recorded(#recorded_here, self)
                    };
                    quote! {
                        if let ::core::option::Option::Some(#message) = #publish? {
                            return ::core::result::Result::Ok(#message);
                        }
                    }
                }
            }
        }
        Selection::Variants(variants) => {
            let (info, stored, payload) = (local("info"), local("stored"), local("payload"));
            let names = variants.iter().map(Ident::to_string);
            // Each arm spanned at its variant in `events(...)`: a variant the enum lacks, or a
            // missing `Project<Payload>` impl, is reported at the variant the user named.
            let hand_on = match kind {
                Kind::Projection => quote!(project),
                Kind::Publisher => quote!(return publish),
                Kind::Saga => quote!(react),
            };
            let plan = (kind == Kind::Saga).then(|| {
                let plan = local("plan");
                quote!(#plan,)
            });
            let arms = variants.iter().map(|variant| {
                let span = variant.span();
                let krate_here = respan(krate, span);
                let (payload, recorded) = (located(&payload, span), located(recorded, span));
                let hand_on = respan(&hand_on, span);
                quote_spanned! {span=>
                    #path::#variant(#payload) => #hand_on(
                        #krate_here::Recorded::new(#recorded, #payload),
                        self,
                        #plan
                    ),
                }
            });
            let done = match kind {
                Kind::Projection | Kind::Saga => quote!(::core::result::Result::Ok(())),
                Kind::Publisher => quote!(::core::result::Result::Ok(::core::option::Option::None)),
            };
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
                    return #done;
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

/// A saga's `route`: each consumed enum in turn finds the event's instance, reading the
/// id the way `id = ...` says, and tells whether the event starts one.
fn route(model: &ConsumerModel, events: &[EventSource], recorded: &Ident) -> TokenStream {
    let krate = &model.krate;
    let by = match &model.id {
        Some(SagaId::Field(field)) => {
            let field = field.to_string();
            quote!(#krate::__private::RouteBy::Field(#field))
        }
        Some(SagaId::Correlation) | None => quote!(#krate::__private::RouteBy::Correlation),
    };
    let starting = model.starting();
    let selected = |selection: Option<&Selection>| match selection {
        Some(Selection::All) => quote!(#krate::__private::Selected::All),
        Some(Selection::Variants(variants)) => {
            let variants = variants.iter().map(Ident::to_string);
            quote!(#krate::__private::Selected::Only(&[#(#variants),*]))
        }
        None => quote!(#krate::__private::Selected::Only(&[])),
    };
    let routes = events.iter().map(|source| {
        let path = &source.path;
        let key = path_key(path);
        let starts = starting
            .iter()
            .find(|start| path_key(&start.path) == key)
            .map(|start| &start.selection);
        let (consumed, starts) = (selected(Some(&source.selection)), selected(starts));
        let route = local("route");
        quote! {
            if let ::core::option::Option::Some(#route) =
                #krate::__private::route_event::<#path>(#recorded, #by, #consumed, #starts)?
            {
                return ::core::result::Result::Ok(::core::option::Option::Some(#route));
            }
        }
    });
    quote! {
        fn route(
            #recorded: &#krate::store::RecordedEvent,
        ) -> ::core::result::Result<::core::option::Option<#krate::saga::Route>, #krate::EventDecodeError> {
            #(#routes)*
            ::core::result::Result::Ok(::core::option::Option::None)
        }
    }
}
