//! `#[derive(Projection)]`, `#[derive(Publisher)]` and `#[derive(Saga)]`: a consumer of
//! events, its name (and a projection's version), the event types it reads (whole event
//! enums, or some of their variants), and the dispatch of each recorded event to the
//! type's handlers (`Project` for a read model, `Publish` for a publisher's mapping to
//! public messages, `React` for a saga, which also routes each event to its instance).

mod check;
mod expand;
mod model;
mod saga;
#[cfg(test)]
mod tests;

use proc_macro2::TokenStream;
use syn::DeriveInput;

use self::model::{ConsumerModel, Kind};
use crate::derive::Model;
use crate::errors::Errors;

/// `#[derive(Projection)]`.
pub struct ProjectionModel(ConsumerModel);

/// `#[derive(Publisher)]`.
pub struct PublisherModel(ConsumerModel);

/// `#[derive(Saga)]`.
pub struct SagaModel(ConsumerModel);

/// The model of `kind`, unless the input is generic: that is itself the mistake, and an
/// impl without its generics would only add errors.
fn parse(kind: Kind, input: &DeriveInput, errors: &mut Errors) -> Option<ConsumerModel> {
    let model = ConsumerModel::parse(kind, input, errors);
    (!model.generic).then_some(model)
}

impl Model for ProjectionModel {
    fn parse(input: &DeriveInput, errors: &mut Errors) -> Option<Self> {
        parse(Kind::Projection, input, errors).map(ProjectionModel)
    }

    fn check(&self, errors: &mut Errors) {
        self.0.sources(Some(errors));
    }

    fn expand(&self) -> TokenStream {
        expand::expand(&self.0)
    }
}

impl Model for PublisherModel {
    fn parse(input: &DeriveInput, errors: &mut Errors) -> Option<Self> {
        parse(Kind::Publisher, input, errors).map(PublisherModel)
    }

    fn check(&self, errors: &mut Errors) {
        self.0.sources(Some(errors));
    }

    fn expand(&self) -> TokenStream {
        expand::expand(&self.0)
    }
}

impl Model for SagaModel {
    fn parse(input: &DeriveInput, errors: &mut Errors) -> Option<Self> {
        parse(Kind::Saga, input, errors).map(SagaModel)
    }

    fn check(&self, errors: &mut Errors) {
        self.0.sources(Some(errors));
    }

    fn expand(&self) -> TokenStream {
        expand::expand(&self.0)
    }
}
