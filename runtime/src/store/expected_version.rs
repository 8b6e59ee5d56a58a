//! The stream state an append requires: optimistic concurrency.

/// The stream state an append requires (optimistic concurrency).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExpectedVersion {
    /// No check.
    Any,
    /// The stream must not exist (have no events).
    NoStream,
    /// The stream must exist.
    StreamExists,
    /// The stream's current version must be exactly this (`Exact(0)` means no stream).
    Exact(u64),
}

impl ExpectedVersion {
    /// The version this expectation pins the stream to (`NoStream` is 0), if it pins one.
    pub fn exact(self) -> Option<u64> {
        match self {
            ExpectedVersion::NoStream => Some(0),
            ExpectedVersion::Exact(version) => Some(version),
            ExpectedVersion::Any | ExpectedVersion::StreamExists => None,
        }
    }

    /// Whether a stream currently at `current` (0 = no stream) satisfies this expectation.
    pub fn accepts(self, current: u64) -> bool {
        match self {
            ExpectedVersion::Any => true,
            ExpectedVersion::NoStream => current == 0,
            ExpectedVersion::StreamExists => current > 0,
            ExpectedVersion::Exact(expected) => current == expected,
        }
    }
}

impl std::fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExpectedVersion::Any => f.write_str("any version"),
            ExpectedVersion::NoStream => f.write_str("no stream"),
            ExpectedVersion::StreamExists => f.write_str("an existing stream"),
            ExpectedVersion::Exact(v) => write!(f, "version {v}"),
        }
    }
}
