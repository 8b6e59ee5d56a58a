//! Generates the `Event`, `ApplyTo`, `ProjectTo` and `From` impls of an event enum, from
//! what of it is valid: after a mistake, the variants that parsed still get their impls, so
//! the user's handlers (`Deposited { .. }.into()`) report nothing on top of the mistake.

use proc_macro2::{Ident, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::model::{EventEnum, EventVariant, UpcastStep};
use crate::attr::local;
use crate::derive::in_const;
use crate::dispatch::{Dispatch, dispatch_impl};

pub fn expand(model: &EventEnum) -> TokenStream {
    let EventEnum {
        ident,
        krate,
        variants,
        complete,
    } = model;
    let names: Vec<&str> = variants.iter().map(|v| v.name.0.as_str()).collect();
    let stored_names: Vec<&str> = variants
        .iter()
        .flat_map(|v| std::iter::once(&v.name).chain(&v.aliases))
        .map(|(name, _)| name.as_str())
        .collect();
    let variant_idents: Vec<_> = variants.iter().map(|v| &v.ident).collect();
    let versions: Vec<u32> = variants.iter().map(|v| v.version).collect();
    let encode_arms = variants.iter().map(|v| encode_arm(krate, v));
    let locals = Locals::new();
    let decode_arms = variants.iter().map(|v| decode_arm(krate, v, &locals));
    let Locals {
        event_type,
        schema_version,
        payload,
        ..
    } = &locals;
    let variant_infos = variants.iter().map(|v| {
        let (variant, name, version) = (v.ident.to_string(), &v.name.0, v.version);
        let aliases = v.aliases.iter().map(|(alias, _)| alias);
        quote! {
            #krate::__private::VariantInfo { variant: #variant, name: #name, aliases: &[#(#aliases),*], version: #version }
        }
    });
    // A variant that did not parse has no arm: the others still match.
    let rest = (!complete).then(|| quote! { _ => ::core::unreachable!(), });
    let payloads: Vec<(&Ident, &syn::Type)> =
        variants.iter().map(|v| (&v.ident, &v.payload)).collect();
    let apply_to = dispatch_impl(krate, ident, &payloads, *complete, &apply_dispatch(krate));
    let project_to = dispatch_impl(krate, ident, &payloads, *complete, &project_dispatch(krate));
    let publish_to = dispatch_impl(krate, ident, &payloads, *complete, &publish_dispatch(krate));
    let react_to = dispatch_impl(krate, ident, &payloads, *complete, &react_dispatch(krate));
    let from_impls = from_impls(model);

    in_const(quote! {
        #[automatically_derived]
        impl #krate::Event for #ident {
            const NAMES: &'static [&'static str] = &[#(#names),*];
            const STORED_NAMES: &'static [&'static str] = &[#(#stored_names),*];
            const VARIANTS: &'static [#krate::__private::VariantInfo] = &[#(#variant_infos),*];

            #[inline]
            fn event_type(&self) -> &'static str {
                match self { #(Self::#variant_idents(_) => #names,)* #rest }
            }

            #[inline]
            fn schema_version(&self) -> u32 {
                match self { #(Self::#variant_idents(_) => #versions,)* #rest }
            }

            fn encode(&self) -> ::core::result::Result<#krate::__private::EncodedEvent, #krate::EncodeError> {
                match self { #(#encode_arms)* #rest }
            }

            fn decode(
                #event_type: &str,
                #schema_version: u32,
                #payload: &[u8],
            ) -> ::core::result::Result<Self, #krate::DecodeFailure> {
                match #event_type {
                    #(#decode_arms)*
                    _ => ::core::result::Result::Err(#krate::DecodeFailure::UnknownType {
                        known: <Self as #krate::Event>::STORED_NAMES,
                    }),
                }
            }
        }

        #apply_to
        #project_to
        #publish_to
        #react_to
        #from_impls
    })
}

/// `ApplyTo<A>`: each variant to `Apply<Payload>::apply(target, &payload)`.
fn apply_dispatch(krate: &syn::Path) -> Dispatch {
    let (target, krate) = (local("target"), krate.clone());
    Dispatch {
        dispatch: "ApplyTo",
        handler: "Apply",
        target: "__AnnalsTarget",
        signature: quote! { fn apply_to(&self, #target: &mut __AnnalsTarget) },
        arm: Box::new(move |event, payload| {
            quote! { #krate::Apply::<#payload>::apply(#target, #event) }
        }),
    }
}

/// `ProjectTo<P>`: each variant to `Project<Payload>::project(projection, Recorded)`, with
/// the envelope of the recorded event.
fn project_dispatch(krate: &syn::Path) -> Dispatch {
    let (recorded, projection, krate) = (local("recorded"), local("projection"), krate.clone());
    Dispatch {
        dispatch: "ProjectTo",
        handler: "Project",
        target: "__AnnalsProjection",
        signature: quote! {
            fn project_to(
                self,
                #recorded: &#krate::store::RecordedEvent,
                #projection: &mut __AnnalsProjection,
            )
        },
        arm: Box::new(move |event, payload| {
            quote! {
                #krate::Project::<#payload>::project(#projection, #krate::Recorded::new(#recorded, #event))
            }
        }),
    }
}

/// `PublishTo<P>`: each variant to `Publish<Payload>::publish(publisher, Recorded)`, with
/// the envelope of the recorded event.
fn publish_dispatch(krate: &syn::Path) -> Dispatch {
    let (recorded, publisher, krate) = (local("recorded"), local("publisher"), krate.clone());
    Dispatch {
        dispatch: "PublishTo",
        handler: "messaging::Publish",
        target: "__AnnalsPublisher",
        signature: quote! {
            fn publish_to(
                self,
                #recorded: &#krate::store::RecordedEvent,
                #publisher: &__AnnalsPublisher,
            ) -> ::core::result::Result<
                ::core::option::Option<#krate::messaging::Message>,
                #krate::messaging::MappingError,
            >
        },
        arm: Box::new(move |event, payload| {
            quote! {
                #krate::messaging::Publish::<#payload>::publish(#publisher, #krate::Recorded::new(#recorded, #event))
            }
        }),
    }
}

/// `ReactTo<S>`: each variant to `React<Payload>::react(saga, Recorded, plan)`, with the
/// envelope of the recorded event.
fn react_dispatch(krate: &syn::Path) -> Dispatch {
    let (recorded, saga, plan, krate) = (
        local("recorded"),
        local("saga"),
        local("plan"),
        krate.clone(),
    );
    Dispatch {
        dispatch: "ReactTo",
        handler: "saga::React",
        target: "__AnnalsSaga",
        signature: quote! {
            fn react_to(
                self,
                #recorded: &#krate::store::RecordedEvent,
                #saga: &mut __AnnalsSaga,
                #plan: &mut #krate::saga::Plan<<__AnnalsSaga as #krate::saga::Steps>::Step>,
            )
        },
        arm: Box::new(move |event, payload| {
            quote! {
                #krate::saga::React::<#payload>::react(#saga, #krate::Recorded::new(#recorded, #event), #plan)
            }
        }),
    }
}

fn encode_arm(krate: &syn::Path, variant: &EventVariant) -> TokenStream {
    let EventVariant {
        ident,
        payload,
        name: (name, _),
        version,
        ..
    } = variant;
    let (value, bytes, source) = (local("value"), local("bytes"), local("source"));
    quote_spanned! {payload.span()=>
        Self::#ident(#value) => match #krate::__private::serde_json::to_vec::<#payload>(#value) {
            ::core::result::Result::Ok(#bytes) => ::core::result::Result::Ok(#krate::__private::EncodedEvent {
                event_type: #name,
                schema_version: #version,
                payload: #bytes,
            }),
            ::core::result::Result::Err(#source) => ::core::result::Result::Err(#krate::EncodeError {
                event_type: #name,
                source: #source,
            }),
        },
    }
}

/// The local variables of the generated `decode`. Mixed-site hygiene keeps them apart from
/// the user's names: an upcaster called `value` or `payload` still resolves to the function.
struct Locals {
    event_type: Ident,
    schema_version: Ident,
    payload: Ident,
    value: Ident,
}

impl Locals {
    fn new() -> Locals {
        let local = crate::attr::local;
        Locals {
            event_type: local("event_type"),
            schema_version: local("schema_version"),
            payload: local("payload"),
            value: local("value"),
        }
    }
}

/// `"Name" | "Alias" => match schema_version { current => ..., older => upcast chain, _ => error }`
fn decode_arm(krate: &syn::Path, variant: &EventVariant, locals: &Locals) -> TokenStream {
    let EventVariant {
        ident,
        payload,
        version,
        ..
    } = variant;
    let stored = std::iter::once(&variant.name)
        .chain(&variant.aliases)
        .map(|(n, _)| n.as_str());
    let Locals {
        schema_version,
        payload: bytes,
        ..
    } = locals;
    let current = quote_spanned! {payload.span()=>
        #krate::__private::decode_payload::<#payload>(#bytes).map(Self::#ident)
    };
    // After a mistake in the chain, only the current version decodes: the chain's error is
    // reported, and generating it would add more.
    let older_versions = if variant.chain_is_complete() {
        1..*version
    } else {
        1..1
    };
    let older = older_versions.map(|from| {
        let chain = upcast_chain(krate, variant, from, locals);
        quote! { #from => { #chain } }
    });
    quote! {
        #(#stored)|* => match #schema_version {
            #version => #current,
            #(#older)*
            _ => ::core::result::Result::Err(#krate::DecodeFailure::UnknownVersion {
                found: #schema_version,
                current: #version,
            }),
        },
    }
}

/// The statements that decode a payload stored at version `from` and upcast it, step by
/// step, to the current payload type. Raw (JSON) steps come first, typed steps after them.
fn upcast_chain(
    krate: &syn::Path,
    variant: &EventVariant,
    from: u32,
    locals: &Locals,
) -> TokenStream {
    let Locals {
        payload: bytes,
        value,
        ..
    } = locals;
    let EventVariant {
        ident,
        payload,
        version,
        upcasts,
        ..
    } = variant;
    let steps: Vec<_> = upcasts
        .iter()
        .filter(|u| u.from >= from && u.from < *version)
        .collect();
    let mut body = TokenStream::new();
    // While steps are raw, the payload travels as a JSON value.
    let mut json = false;
    let mut typed: Option<(syn::Ident, &syn::Type)> = None;
    for step in &steps {
        match &step.step {
            UpcastStep::Raw(function) => {
                let step_from = step.from;
                if !json {
                    body.extend(quote! {
                        let #value = #krate::__private::payload_value(#bytes)?;
                    });
                    json = true;
                }
                body.extend(quote_spanned! {function.span()=>
                    let #value = #krate::__private::raw_upcast(#function, #step_from, #value)?;
                });
            }
            UpcastStep::Typed(ty) => {
                // Spanned at the type (call-site hygiene: a mixed-site span would move the
                // error back to the derive), so that a missing `From` impl is reported at
                // `with = Type`. No user path is evaluated after typed steps begin (raw steps
                // come first), so these names cannot shadow one.
                let binding = Ident::new(&format!("v{}", step.from), ty.span());
                match &typed {
                    None if json => body.extend(quote_spanned! {ty.span()=>
                        let #binding = #krate::__private::decode_value::<#ty>(#value)?;
                    }),
                    None => body.extend(quote_spanned! {ty.span()=>
                        let #binding = #krate::__private::decode_payload::<#ty>(#bytes)?;
                    }),
                    Some((previous, previous_ty)) => body.extend(quote_spanned! {previous_ty.span()=>
                        let #binding: #ty = ::core::convert::From::<#previous_ty>::from(#previous);
                    }),
                }
                typed = Some((binding, ty));
            }
        }
    }
    match typed {
        Some((previous, previous_ty)) => {
            let current = Ident::new("current", previous_ty.span());
            body.extend(quote_spanned! {previous_ty.span()=>
                let #current: #payload = ::core::convert::From::<#previous_ty>::from(#previous);
                ::core::result::Result::Ok(Self::#ident(#current))
            });
        }
        None => body.extend(quote_spanned! {payload.span()=>
            #krate::__private::decode_value::<#payload>(#value).map(Self::#ident)
        }),
    }
    body
}

/// `From<Payload> for Enum`, for payload types used by exactly one variant.
fn from_impls(model: &EventEnum) -> TokenStream {
    let EventEnum {
        ident, variants, ..
    } = model;
    let key = |v: &EventVariant| quote::ToTokens::to_token_stream(&v.payload).to_string();
    variants
        .iter()
        .filter(|v| variants.iter().filter(|other| key(other) == key(v)).count() == 1)
        .map(|v| {
            let (variant, payload, event) = (&v.ident, &v.payload, local("event"));
            quote! {
                #[automatically_derived]
                impl ::core::convert::From<#payload> for #ident {
                    #[inline]
                    fn from(#event: #payload) -> Self { Self::#variant(#event) }
                }
            }
        })
        .collect()
}
