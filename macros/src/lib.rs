//! Derive macros for [annals](https://docs.rs/annals). Use them through the `annals` crate,
//! which re-exports them; this crate holds only the entry points, and each derive lives in
//! its own module as parse (attributes → checked model) → expand.

mod aggregate;
mod attr;
mod command;
mod errors;
mod event;
mod projection;

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

/// Implements `annals::Event` (and per-aggregate apply dispatch) for an event enum.
/// See the `annals::Event` documentation for the attribute reference.
#[proc_macro_derive(Event, attributes(event))]
pub fn derive_event(input: TokenStream) -> TokenStream {
    event::derive(&parse_macro_input!(input as DeriveInput)).into()
}

/// Implements `annals::Aggregate` for an aggregate's state.
/// See the `annals::Aggregate` documentation for the attribute reference.
#[proc_macro_derive(Aggregate, attributes(aggregate))]
pub fn derive_aggregate(input: TokenStream) -> TokenStream {
    aggregate::derive(&parse_macro_input!(input as DeriveInput)).into()
}

/// Implements `annals::Command` for a command struct, or for an enum of command structs.
/// See the `annals::Command` documentation for the attribute reference.
#[proc_macro_derive(Command, attributes(command, id))]
pub fn derive_command(input: TokenStream) -> TokenStream {
    command::derive(&parse_macro_input!(input as DeriveInput)).into()
}

/// Implements `annals::Projection` for a read model: its name, version, the event types it
/// reads and the dispatch of each to its `Project` handler.
/// See the `annals::Projection` documentation for the attribute reference.
#[proc_macro_derive(Projection, attributes(projection))]
pub fn derive_projection(input: TokenStream) -> TokenStream {
    projection::derive(&parse_macro_input!(input as DeriveInput)).into()
}
