//! Given events, then the state of a projection's read model.

use super::log::GivenLog;

/// Given events, then the state of a projection's read model: the projection alone, no
/// store, no runner.
///
/// Events go through the same path as in the runner: encoded as they would be stored,
/// filtered by the projection's event types, decoded, and dispatched with an envelope
/// (stream id, stream version, a global position in the order given, metadata).
///
/// ```
/// # use std::collections::HashMap;
/// # use annals::{Event, Project, Projection, Recorded};
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
/// # struct Deposited { amount: i64 }
/// # #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
/// # struct Withdrawn { amount: i64 }
/// # #[derive(Event, Clone, Debug, PartialEq)]
/// # enum AccountEvent { Deposited(Deposited), Withdrawn(Withdrawn) }
/// # #[derive(Projection, Default)]
/// # #[projection(name = "deposits", events(AccountEvent::{Deposited}))]
/// # struct Deposits { by_account: HashMap<String, i64> }
/// # impl Project<Deposited> for Deposits {
/// #     fn project(&mut self, deposit: Recorded<'_, Deposited>) {
/// #         *self.by_account.entry(deposit.stream_id.to_owned()).or_default() += deposit.amount;
/// #     }
/// # }
/// use annals::testing::ProjectionFixture;
///
/// ProjectionFixture::new(Deposits::default())
///     .given("account-1", [AccountEvent::Deposited(Deposited { amount: 5 })])
///     .given("account-1", [AccountEvent::Withdrawn(Withdrawn { amount: 2 })]) // not consumed
///     .given("account-2", [AccountEvent::Deposited(Deposited { amount: 7 })])
///     .then(|deposits| {
///         assert_eq!(deposits.by_account["account-1"], 5);
///         assert_eq!(deposits.by_account["account-2"], 7);
///     });
/// ```
pub struct ProjectionFixture<P> {
    projection: P,
    log: GivenLog,
}

impl<P: crate::Projection> ProjectionFixture<P> {
    /// Starts from `projection` (usually `Default::default()`).
    pub fn new(projection: P) -> Self {
        ProjectionFixture {
            projection,
            log: GivenLog::default(),
        }
    }

    /// Events recorded on `stream_id`, in order.
    #[track_caller]
    pub fn given<E, I>(mut self, stream_id: &str, events: I) -> Self
    where
        E: crate::Event,
        I: IntoIterator<Item = E>,
    {
        let consumed = P::event_types();
        for event in events {
            let recorded = self.log.record(
                stream_id,
                &event,
                crate::store::Metadata::default(),
                chrono::Utc::now(),
            );
            if consumed.contains(&recorded.event_type.as_str()) {
                self.projection
                    .project_recorded(&recorded)
                    .unwrap_or_else(|error| panic!("projection `{}` failed: {error}", P::NAME));
            }
        }
        self
    }

    /// Asserts on the read model.
    pub fn then(self, check: impl FnOnce(&P)) -> Self {
        check(&self.projection);
        self
    }

    /// The read model, for assertions the helpers above do not cover.
    pub fn into_projection(self) -> P {
        self.projection
    }
}
