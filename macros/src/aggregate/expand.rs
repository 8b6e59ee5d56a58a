//! Generates the `Aggregate` impl (after a mistake too: see the model's conventional
//! names).

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::model::AggregateModel;
use crate::attr::local;
use crate::derive::in_const;

pub fn expand(model: &AggregateModel) -> TokenStream {
    let AggregateModel {
        ident,
        krate,
        event,
        error,
        kind,
        snapshot,
        shape,
    } = model;
    let (state, event_arg) = (local("state"), local("event"));
    let snapshot_format = snapshot.map(|(version, span)| {
        quote_spanned! {span=>
            fn snapshot_format() -> ::core::option::Option<#krate::__private::SnapshotFormat<Self>> {
                ::core::option::Option::Some(#krate::__private::SnapshotFormat::json(#version).with_shape(#shape))
            }
        }
    });
    // Spanned at the event type: a missing `Apply<Payload>` impl is reported at
    // `event = ...` and at the variant whose payload lacks a handler.
    let event_type = quote_spanned! {event.span()=> type Event = #event; };
    let error_type = quote_spanned! {error.span()=> type Error = #error; };
    in_const(quote! {
            #[automatically_derived]
            impl #krate::Aggregate for #ident {
                const KIND: &'static str = #kind;
                #event_type
                #error_type

                #[inline]
                fn apply_event(&mut self, #event_arg: &Self::Event) {
                    // Through a generic function, whose `A::Event: ApplyTo<A>` comes from the
                    // trait's bound: a missing `Apply` impl is then reported once, at
                    // `event = ...`, not a second time here.
                    fn apply<A: #krate::Aggregate>(#state: &mut A, #event_arg: &A::Event) {
                        #krate::dispatch::ApplyTo::<A>::apply_to(#event_arg, #state)
                    }
                    apply::<Self>(self, #event_arg)
                }

                #snapshot_format
            }
    })
}
