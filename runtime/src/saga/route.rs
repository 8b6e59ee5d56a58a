//! How the derive's `route` finds an event's instance: the event's correlation id, or a
//! field of its payload as the current version of its type stores it.

use serde_json::Value;

use super::Route;
use crate::event::{Event, EventDecodeError};
use crate::store::RecordedEvent;

/// How an event finds its instance (`#[saga(id = ...)]`).
#[derive(Debug, Clone, Copy)]
pub enum RouteBy {
    /// `id = correlation`.
    Correlation,
    /// `id = field`: the payload's field.
    Field(&'static str),
}

/// Some variants of an enum, or all.
#[derive(Debug, Clone, Copy)]
pub enum Selected {
    /// Every variant.
    All,
    /// These variants (Rust names).
    Only(&'static [&'static str]),
}

impl Selected {
    fn holds(self, variant: &str) -> bool {
        match self {
            Selected::All => true,
            Selected::Only(variants) => variants.contains(&variant),
        }
    }
}

/// The route of `recorded` if it is an event of `E` the saga consumes (`consumed`, or
/// `starting`); `None` for another event, or one whose id is missing or null. A payload
/// that does not decode is an error.
pub fn route_event<E: Event>(
    recorded: &RecordedEvent,
    by: RouteBy,
    consumed: Selected,
    starting: Selected,
) -> Result<Option<Route>, EventDecodeError> {
    let Some(info) = E::VARIANTS
        .iter()
        .find(|info| info.stored_names().any(|name| name == recorded.event_type))
    else {
        return Ok(None);
    };
    let starts = starting.holds(info.variant);
    if !starts && !consumed.holds(info.variant) {
        return Ok(None);
    }
    let instance = match by {
        RouteBy::Correlation => recorded.metadata.correlation_id.map(|id| id.to_string()),
        RouteBy::Field(field) => {
            let current =
                recorded.event_type == info.name && recorded.schema_version == info.version;
            let payload: Option<Value> = if current {
                serde_json::from_slice(&recorded.payload).ok()
            } else {
                // An older version or name: the field as the current version has it.
                let event = E::decode_recorded(recorded)?;
                event
                    .encode()
                    .ok()
                    .and_then(|encoded| serde_json::from_slice(&encoded.payload).ok())
            };
            let id = payload.and_then(|payload| match payload.get(field) {
                Some(Value::String(id)) => Some(id.clone()),
                Some(Value::Number(id)) => Some(id.to_string()),
                _ => None,
            });
            if id.is_none() && current {
                // No id: a payload that does not decode is an error, not "no instance".
                E::decode_recorded(recorded)?;
            }
            id
        }
    };
    Ok(instance.map(|instance| Route { instance, starts }))
}
