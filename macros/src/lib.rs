//! Derive macros for [annals](https://docs.rs/annals). Use them through the `annals` crate,
//! which re-exports them. This file holds only the entry points: each derive is a module
//! that reads its input into a model (`model.rs`), checks it (`check.rs` where a check needs
//! more than one attribute) and generates from it (`expand.rs`), through the one entry of
//! `derive::derive`.

mod aggregate;
mod attr;
mod command;
mod consumer;
mod derive;
mod dispatch;
mod errors;
mod event;

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

/// Implements `annals::Event` (and the dispatch of its variants to handlers) for an event
/// enum. See the `annals::Event` documentation for the attribute reference.
#[proc_macro_derive(Event, attributes(event))]
pub fn derive_event(input: TokenStream) -> TokenStream {
    derive::derive::<event::EventEnum>(&parse_macro_input!(input as DeriveInput)).into()
}

/// Implements `annals::Aggregate` for an aggregate's state.
/// See the `annals::Aggregate` documentation for the attribute reference.
#[proc_macro_derive(Aggregate, attributes(aggregate))]
pub fn derive_aggregate(input: TokenStream) -> TokenStream {
    derive::derive::<aggregate::AggregateModel>(&parse_macro_input!(input as DeriveInput)).into()
}

/// Implements `annals::Command` for a command struct, or for an enum of command structs.
/// See the `annals::Command` documentation for the attribute reference.
#[proc_macro_derive(Command, attributes(command, id))]
pub fn derive_command(input: TokenStream) -> TokenStream {
    derive::derive::<command::CommandModel>(&parse_macro_input!(input as DeriveInput)).into()
}

/// Implements `annals::Projection` for a read model: its name, version, the event types it
/// reads and the dispatch of each to its `Project` handler.
/// See the `annals::Projection` documentation for the attribute reference.
#[proc_macro_derive(Projection, attributes(projection))]
pub fn derive_projection(input: TokenStream) -> TokenStream {
    derive::derive::<consumer::ProjectionModel>(&parse_macro_input!(input as DeriveInput)).into()
}

/// Implements `annals::messaging::Publisher` for the mapping of domain events to public
/// messages: its name, the event types it reads and the dispatch of each to its `Publish`
/// handler. See the `annals::messaging::Publisher` documentation for the attribute reference.
#[proc_macro_derive(Publisher, attributes(publisher))]
pub fn derive_publisher(input: TokenStream) -> TokenStream {
    derive::derive::<consumer::PublisherModel>(&parse_macro_input!(input as DeriveInput)).into()
}

/// Implements `annals::saga::Saga` for a saga's state: its name, the events that start an
/// instance and those it reacts to, how each finds its instance, and the dispatch of each
/// to its `React` handler. See the `annals::saga::Saga` documentation for the attribute
/// reference.
#[proc_macro_derive(Saga, attributes(saga))]
pub fn derive_saga(input: TokenStream) -> TokenStream {
    derive::derive::<consumer::SagaModel>(&parse_macro_input!(input as DeriveInput)).into()
}
