//! Which events a read of the global log returns.

/// Which events a read of the global log returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    event_types: Option<Vec<String>>,
}

impl EventFilter {
    /// Every event.
    pub fn all() -> Self {
        EventFilter::default()
    }

    /// Only events whose type name is one of `types`.
    pub fn types<I, S>(types: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        EventFilter {
            event_types: Some(types.into_iter().map(Into::into).collect()),
        }
    }

    /// Only the events of the family `E` (every stored name, aliases included).
    pub fn events_of<E: crate::Event>() -> Self {
        EventFilter::types(E::STORED_NAMES.iter().copied())
    }

    /// The accepted type names, or `None` for every event.
    pub fn event_types(&self) -> Option<&[String]> {
        self.event_types.as_deref()
    }

    /// Whether an event of this type passes the filter.
    pub fn matches(&self, event_type: &str) -> bool {
        match &self.event_types {
            None => true,
            Some(types) => types.iter().any(|t| t == event_type),
        }
    }
}
