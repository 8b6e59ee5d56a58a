//! The dispatch the derives generate: each variant of an event enum handed to the handler
//! of its payload type. Not public API: generated code implements and calls these traits;
//! users write `Apply` and `Project` impls instead.

use crate::store::RecordedEvent;

/// Dispatch of every variant of an event family to a handler of its payload type.
///
/// `#[derive(Event)]` implements `ApplyTo<A>` for every `A` that implements
/// [`Apply`](crate::Apply) for *each* payload type of the family; `#[derive(Aggregate)]`
/// calls it. This is the `match` users never write.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an event enum that `{A}` can apply",
    note = "`event = ...` must name an enum with `#[derive(annals::Event)]`; `{A}` then needs `impl annals::Apply<Payload>` for each of its payloads"
)]
pub trait ApplyTo<A: ?Sized>: crate::Event {
    /// Applies this event to `target`.
    fn apply_to(&self, target: &mut A);
}

/// Dispatch of every variant of an event family to [`Project`](crate::Project) handlers, with the envelope.
///
/// `#[derive(Event)]` implements `ProjectTo<P>` for every `P` that implements `Project` for
/// each payload type of the family; `#[derive(Projection)]` calls it for the enums it
/// consumes whole.
#[diagnostic::on_unimplemented(
    message = "projection `{P}` does not handle every event of `{Self}`",
    note = "`events(...)` must name enums with `#[derive(annals::Event)]`; `{P}` then needs `impl annals::Project<Payload>` for each variant of `{Self}`, or consumes only some variants: `events({Self}::{{VariantA, VariantB}})`"
)]
pub trait ProjectTo<P: ?Sized>: crate::Event {
    /// Projects this event, with the envelope of `recorded`, into `projection`.
    fn project_to(self, recorded: &RecordedEvent, projection: &mut P);
}

/// An event enum that projection `P` consumes whole: what its generated code reads of it.
///
/// Implemented for every `E: ProjectTo<P>`. Generated code reaches an enum consumed whole
/// only through this trait: a path that is not an event enum, or an enum with a variant `P`
/// has no handler for, is then one error at the path, not one per use.
#[diagnostic::on_unimplemented(
    message = "projection `{P}` does not handle every event of `{Self}`",
    label = "not an event enum whose every variant `{P}` handles",
    note = "`events(...)` must name enums with `#[derive(annals::Event)]`; `{P}` then needs `impl annals::Project<Payload>` for each variant of `{Self}`, or consumes only some variants: `events({Self}::{{VariantA, VariantB}})`"
)]
pub trait ConsumedBy<P: ?Sized> {
    /// Its stored names.
    const NAMES: &'static [&'static str];
    /// Its variants.
    const VARIANTS: &'static [crate::event::codec::VariantInfo];

    /// Projects `recorded` into `projection` if it is one of this enum's events; `false`
    /// when it is not.
    fn project_recorded(
        recorded: &RecordedEvent,
        projection: &mut P,
    ) -> Result<bool, crate::EventDecodeError>;
}

impl<E: ProjectTo<P>, P: ?Sized> ConsumedBy<P> for E {
    const NAMES: &'static [&'static str] = E::STORED_NAMES;
    const VARIANTS: &'static [crate::event::codec::VariantInfo] = <E as crate::Event>::VARIANTS;

    #[inline]
    fn project_recorded(
        recorded: &RecordedEvent,
        projection: &mut P,
    ) -> Result<bool, crate::EventDecodeError> {
        if !E::STORED_NAMES.contains(&recorded.event_type.as_str()) {
            return Ok(false);
        }
        E::decode_recorded(recorded)?.project_to(recorded, projection);
        Ok(true)
    }
}

/// Dispatch of every variant of an event family to [`Publish`](crate::messaging::Publish)
/// handlers, with the envelope.
///
/// `#[derive(Event)]` implements `PublishTo<P>` for every `P` that implements `Publish` for
/// each payload type of the family; `#[derive(Publisher)]` calls it for the enums it
/// consumes whole.
#[diagnostic::on_unimplemented(
    message = "publisher `{P}` does not map every event of `{Self}`",
    note = "`events(...)` must name enums with `#[derive(annals::Event)]`; `{P}` then needs `impl annals::messaging::Publish<Payload>` for each variant of `{Self}`, or consumes only some variants: `events({Self}::{{VariantA, VariantB}})`"
)]
pub trait PublishTo<P: ?Sized>: crate::Event {
    /// Maps this event, with the envelope of `recorded`, to `publisher`'s public message.
    fn publish_to(
        self,
        recorded: &RecordedEvent,
        publisher: &P,
    ) -> Result<Option<crate::messaging::Message>, crate::messaging::MappingError>;
}

/// An event enum that publisher `P` consumes whole: what its generated code reads of it.
/// The counterpart of [`ConsumedBy`] for publishers.
#[diagnostic::on_unimplemented(
    message = "publisher `{P}` does not map every event of `{Self}`",
    label = "not an event enum whose every variant `{P}` maps",
    note = "`events(...)` must name enums with `#[derive(annals::Event)]`; `{P}` then needs `impl annals::messaging::Publish<Payload>` for each variant of `{Self}`, or consumes only some variants: `events({Self}::{{VariantA, VariantB}})`"
)]
pub trait PublishedBy<P: ?Sized> {
    /// Its stored names.
    const NAMES: &'static [&'static str];
    /// Its variants.
    const VARIANTS: &'static [crate::event::codec::VariantInfo];

    /// `None` when `recorded` is not one of this enum's events; otherwise what `publisher`
    /// maps it to (a message, or nothing).
    #[allow(clippy::type_complexity)]
    fn publish_recorded(
        recorded: &RecordedEvent,
        publisher: &P,
    ) -> Result<Option<Option<crate::messaging::Message>>, crate::messaging::MappingError>;
}

impl<E: PublishTo<P>, P: ?Sized> PublishedBy<P> for E {
    const NAMES: &'static [&'static str] = E::STORED_NAMES;
    const VARIANTS: &'static [crate::event::codec::VariantInfo] = <E as crate::Event>::VARIANTS;

    #[inline]
    fn publish_recorded(
        recorded: &RecordedEvent,
        publisher: &P,
    ) -> Result<Option<Option<crate::messaging::Message>>, crate::messaging::MappingError> {
        if !E::STORED_NAMES.contains(&recorded.event_type.as_str()) {
            return Ok(None);
        }
        E::decode_recorded(recorded)?
            .publish_to(recorded, publisher)
            .map(Some)
    }
}

#[diagnostic::on_unimplemented(
    message = "saga `{S}` does not react to every event of `{Self}`",
    note = "`starts(...)` and `events(...)` must name enums with `#[derive(annals::Event)]`; `{S}` then needs `impl annals::saga::React<Payload>` for each variant of `{Self}`, or consumes only some variants: `events({Self}::{{VariantA, VariantB}})`"
)]
pub trait ReactTo<S: ?Sized + crate::saga::Steps>: crate::Event {
    fn react_to(
        self,
        recorded: &RecordedEvent,
        saga: &mut S,
        plan: &mut crate::saga::Plan<S::Step>,
    );
}

#[diagnostic::on_unimplemented(
    message = "saga `{S}` does not react to every event of `{Self}`",
    label = "not an event enum whose every variant `{S}` reacts to",
    note = "`starts(...)` and `events(...)` must name enums with `#[derive(annals::Event)]`; `{S}` then needs `impl annals::saga::React<Payload>` for each variant of `{Self}`, or consumes only some variants: `events({Self}::{{VariantA, VariantB}})`"
)]
pub trait ReactedBy<S: ?Sized + crate::saga::Steps> {
    const NAMES: &'static [&'static str];
    const VARIANTS: &'static [crate::event::codec::VariantInfo];

    fn react_recorded(
        recorded: &RecordedEvent,
        saga: &mut S,
        plan: &mut crate::saga::Plan<S::Step>,
    ) -> Result<bool, crate::EventDecodeError>;
}

impl<E: ReactTo<S>, S: ?Sized + crate::saga::Steps> ReactedBy<S> for E {
    const NAMES: &'static [&'static str] = E::STORED_NAMES;
    const VARIANTS: &'static [crate::event::codec::VariantInfo] = <E as crate::Event>::VARIANTS;

    #[inline]
    fn react_recorded(
        recorded: &RecordedEvent,
        saga: &mut S,
        plan: &mut crate::saga::Plan<S::Step>,
    ) -> Result<bool, crate::EventDecodeError> {
        if !E::STORED_NAMES.contains(&recorded.event_type.as_str()) {
            return Ok(false);
        }
        E::decode_recorded(recorded)?.react_to(recorded, saga, plan);
        Ok(true)
    }
}
