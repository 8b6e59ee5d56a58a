//! Which types write and read one log: the aggregate that owns each stream kind, the event
//! enum each stored event name belongs to. Claims are made when a repository or a
//! projection runner is built, so two types that would share streams, or whose events a
//! reader could not tell apart, are refused before anything is written or read.

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// A Rust type that claims names in a [`Catalog`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    type_id: TypeId,
    type_name: &'static str,
}

impl Owner {
    /// The type `T`.
    pub fn of<T: 'static>() -> Self {
        Owner {
            type_id: TypeId::of::<T>(),
            type_name: std::any::type_name::<T>(),
        }
    }

    /// The type's name, as Rust spells it.
    pub fn type_name(&self) -> &'static str {
        self.type_name
    }
}

/// A name claimed by two types.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClaimError {
    /// Two aggregates declare one stream kind: their streams would mix.
    #[error(
        "stream kind `{kind}` is declared by both `{first}` and `{second}`, so their streams would mix in one log: \
         give one of them a kind of its own with `#[aggregate(kind = \"...\")]`"
    )]
    StreamKind {
        /// The kind.
        kind: &'static str,
        /// The aggregate that claimed it first.
        first: &'static str,
        /// The aggregate refused.
        second: &'static str,
    },
    /// Two event enums store events under one name: readers of the log could not tell
    /// their events apart.
    #[error(
        "event name `{name}` is stored by both `{first}` and `{second}`, so readers of the log could not tell their \
         events apart: give one of the variants a name of its own with `#[event(name = \"...\")]`"
    )]
    EventName {
        /// The name.
        name: &'static str,
        /// The enum that claimed it first.
        first: &'static str,
        /// The enum refused.
        second: &'static str,
    },
}

/// The claims made on one log by this process: which aggregate owns each stream kind,
/// which event enum each stored event name belongs to. Every store keeps one, shared by
/// its clones; [`EventStore::catalog`](super::EventStore::catalog) hands it out.
///
/// A claim is refused when another type holds the name; claiming again with the same type
/// is harmless. The catalog knows this process's types only: two services sharing a
/// database each check their own.
///
/// ```
/// use annals::store::{Catalog, ClaimError, Owner};
///
/// struct Book;
/// struct Member;
/// let catalog = Catalog::default();
/// catalog.claim_kind("book", Owner::of::<Book>()).unwrap();
/// catalog.claim_kind("book", Owner::of::<Book>()).unwrap();
/// let refused = catalog.claim_kind("book", Owner::of::<Member>()).unwrap_err();
/// assert!(matches!(refused, ClaimError::StreamKind { kind: "book", .. }));
/// ```
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    claims: Arc<Mutex<Claims>>,
}

#[derive(Debug, Default)]
struct Claims {
    kinds: HashMap<&'static str, Owner>,
    names: HashMap<&'static str, Owner>,
}

impl Catalog {
    /// Claims stream kind `kind` for aggregate `owner`.
    pub fn claim_kind(&self, kind: &'static str, owner: Owner) -> Result<(), ClaimError> {
        let mut claims = self.claims();
        let holder = *claims.kinds.entry(kind).or_insert(owner);
        if holder.type_id != owner.type_id {
            return Err(ClaimError::StreamKind {
                kind,
                first: holder.type_name,
                second: owner.type_name,
            });
        }
        Ok(())
    }

    /// Claims the stored event names `names` for event enum `owner`: all of them, or, when
    /// one is held by another enum, none.
    pub fn claim_event_names(
        &self,
        names: &[&'static str],
        owner: Owner,
    ) -> Result<(), ClaimError> {
        let mut claims = self.claims();
        for &name in names {
            if let Some(holder) = claims.names.get(name)
                && holder.type_id != owner.type_id
            {
                return Err(ClaimError::EventName {
                    name,
                    first: holder.type_name,
                    second: owner.type_name,
                });
            }
        }
        for &name in names {
            claims.names.insert(name, owner);
        }
        Ok(())
    }

    fn claims(&self) -> std::sync::MutexGuard<'_, Claims> {
        self.claims.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
