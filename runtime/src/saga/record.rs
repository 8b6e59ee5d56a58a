//! What a saga's stream records: inputs handled with the state and plan they led to, step
//! results, failed attempts, and operators' actions.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::plan::{Action, DeadlineChange};
use crate::store::{Metadata, NewEvent, RecordedEvent};

/// One record of a saga's stream (each event holds the records of one save).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "snake_case")]
#[serde(bound(serialize = "Step: Serialize", deserialize = "Step: DeserializeOwned"))]
pub(crate) enum SagaRecord<Step> {
    /// An input was handled: the state after it, and what it planned.
    Reacted {
        input: Input,
        state: Value,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        actions: Vec<Action<Step>>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        deadlines: Vec<DeadlineChange>,
    },
    /// Step or compensation `no` succeeded; for a step, the state after
    /// [`on_done`](super::Steps::on_done) (when it changed it) and what it planned.
    Done {
        no: u64,
        #[serde(default, skip_serializing_if = "Value::is_null")]
        output: Value,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        state: Option<Value>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        actions: Vec<Action<Step>>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        deadlines: Vec<DeadlineChange>,
    },
    /// Try `attempt` of step or compensation `no` failed; the next is due at `retry_at`.
    AttemptFailed {
        no: u64,
        attempt: u32,
        error: String,
        retry_at: DateTime<Utc>,
    },
    /// Step or compensation `no` was rejected, or failed its last try.
    GaveUp {
        no: u64,
        error: String,
        rejected: bool,
    },
    /// An operator acted on the stuck instance.
    Operator { action: OperatorAction },
}

/// What an instance handled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Input {
    /// An event of the log.
    Event {
        id: Uuid,
        position: u64,
        event_type: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        correlation: Option<Uuid>,
    },
    /// Deadline `name` passed.
    Deadline { name: String },
}

/// What an operator did to a stuck instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum OperatorAction {
    /// Try the stuck compensation again, with fresh retries.
    Retry,
    /// Take the stuck compensation as done (by hand) and go on compensating.
    Skip,
    /// Close the saga: an operator has put everything right.
    Resolve,
}

/// The stored type of a saga stream's events: each holds the records of one save, in order.
const RECORDS: &str = "annals.saga.Records";

/// `records` (one save's) as one event to append.
pub(crate) fn to_new_event<Step: Serialize>(
    records: &[SagaRecord<Step>],
    metadata: Metadata,
) -> Result<NewEvent, serde_json::Error> {
    Ok(NewEvent::new(
        RECORDS,
        1,
        serde_json::to_vec(records)?,
        metadata,
    ))
}

/// The records an event of a saga's stream holds.
pub(crate) fn from_recorded<Step: DeserializeOwned>(
    recorded: &RecordedEvent,
) -> Result<Vec<SagaRecord<Step>>, serde_json::Error> {
    serde_json::from_slice(&recorded.payload)
}
