//! How a saga's steps are performed: commands through the dispatcher, calls to outside
//! services, each with its idempotency key.

use std::fmt::Display;
use std::sync::atomic::{AtomicU32, Ordering};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::plan::Plan;
use crate::command::Command;
use crate::repository::CommandDispatcher;
use crate::store::Metadata;

/// A saga's steps and how each is performed; and what the saga does when a step is done
/// or a deadline passes.
///
/// ```
/// use annals::saga::{Plan, StepContext, StepError, StepOutput, Steps};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Default, Serialize, Deserialize)]
/// struct Transfer { from: String, amount: i64, refunded: bool }
///
/// #[derive(Debug, Clone, Serialize, Deserialize)]
/// enum TransferStep { Debit { from: String, amount: i64 }, Refund { to: String, amount: i64 } }
///
/// /// The outside service: a ledger that dedupes by key.
/// struct Ledger;
/// impl Ledger {
///     async fn post(&self, _key: &str, _account: &str, _amount: i64) -> Result<(), String> { Ok(()) }
/// }
///
/// #[annals::async_trait]
/// impl Steps for Transfer {
///     type Step = TransferStep;
///     type Services = Ledger;
///
///     async fn perform(step: &TransferStep, context: &StepContext<'_, Ledger>) -> Result<StepOutput, StepError> {
///         let (account, amount) = match step {
///             TransferStep::Debit { from, amount } => (from, -amount),
///             TransferStep::Refund { to, amount } => (to, *amount),
///         };
///         context.services().post(context.key(), account, amount).await.map_err(StepError::failed)?;
///         Ok(StepOutput::none())
///     }
///
///     fn on_deadline(&mut self, name: &str, plan: &mut Plan<TransferStep>) {
///         plan.fail(format!("{name} passed"));
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "saga `{Self}` does not say how its steps are performed",
    label = "no `Steps` impl",
    note = "add `#[annals::async_trait] impl annals::saga::Steps for {Self} {{ type Step = ...; type Services = ...; async fn perform(step: &Self::Step, context: &annals::saga::StepContext<'_, Self::Services>) -> Result<annals::saga::StepOutput, annals::saga::StepError> {{ ... }} }}`"
)]
#[async_trait::async_trait]
pub trait Steps: Send + Sync + 'static {
    /// The steps and compensations (usually an enum): what a plan records, so it must
    /// survive a restart as JSON.
    type Step: Serialize + DeserializeOwned + Clone + std::fmt::Debug + Send + Sync + 'static;
    /// The outside services steps call (`()` for none); the runner holds one.
    type Services: Send + Sync + 'static;

    /// Performs `step` (or a compensation): returns its output, or why it failed.
    /// [`StepError::Rejected`] does not retry; [`StepError::Failed`] does. Performed again
    /// with the same [`key`](StepContext::key) after a crash that came before its result
    /// was recorded: the effect must happen once for that key.
    async fn perform(
        step: &Self::Step,
        context: &StepContext<'_, Self::Services>,
    ) -> Result<StepOutput, StepError>;

    /// A step is done with `output`: change the state and plan more (what is planned here
    /// runs next, before the rest of the plan). By default, nothing.
    fn on_done(&mut self, step: &Self::Step, output: &StepOutput, plan: &mut Plan<Self::Step>) {
        let _ = (step, output, plan);
    }

    /// Deadline `name` passed while the saga was running. By default the saga fails: its
    /// compensations run.
    fn on_deadline(&mut self, name: &str, plan: &mut Plan<Self::Step>) {
        plan.fail(format!("deadline `{name}` passed"));
    }
}

/// Why a step or compensation did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    /// Refused for a reason retrying cannot change (a domain rule): a step's saga
    /// compensates at once; a compensation waits for an operator.
    #[error("rejected: {0}")]
    Rejected(String),
    /// Failed for a reason that may pass (a service down, a timeout): tried again.
    #[error("failed: {0}")]
    Failed(String),
}

impl StepError {
    /// A rejection, saying why.
    pub fn rejected(reason: impl Display) -> Self {
        StepError::Rejected(reason.to_string())
    }

    /// A failure that may pass, saying why.
    pub fn failed(reason: impl Display) -> Self {
        StepError::Failed(reason.to_string())
    }
}

/// What a step returned (JSON), recorded in the saga's stream and handed to
/// [`Steps::on_done`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StepOutput(pub(crate) Value);

impl StepOutput {
    /// No output.
    pub fn none() -> Self {
        StepOutput(Value::Null)
    }

    /// `value` as JSON.
    ///
    /// # Panics
    ///
    /// When `value` does not serialize to JSON (a map with non-string keys).
    pub fn json<T: Serialize>(value: &T) -> Self {
        StepOutput(serde_json::to_value(value).expect("a step's output serializes to JSON"))
    }

    /// The output as JSON.
    pub fn value(&self) -> &Value {
        &self.0
    }

    /// The output decoded as `T`.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(&self.0)
    }
}

/// What a step is performed with: its idempotency key, the services, and the command
/// dispatcher.
pub struct StepContext<'a, X> {
    pub(crate) key: String,
    pub(crate) services: &'a X,
    pub(crate) commands: &'a CommandDispatcher,
    pub(crate) metadata: Metadata,
    /// Commands sent so far by this step: the second and later get keys of their own.
    pub(crate) sent: AtomicU32,
}

impl<X> std::fmt::Debug for StepContext<'_, X> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StepContext")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl<'a, X> StepContext<'a, X> {
    /// A context for performing a step by hand (tests of a [`Steps::perform`]).
    pub fn new(key: impl Into<String>, services: &'a X, commands: &'a CommandDispatcher) -> Self {
        StepContext {
            key: key.into(),
            services,
            commands,
            metadata: Metadata::default(),
            sent: AtomicU32::new(0),
        }
    }

    /// The step's idempotency key, `"{saga}/{instance}/{number}"`: the same every time
    /// this step is performed. Hand it to outside services so they act once per key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The runner's services.
    pub fn services(&self) -> &X {
        self.services
    }

    /// The metadata commands are sent with: the saga's correlation id, and the event that
    /// led to the step as causation.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// Sends `command` to its aggregate's repository once for this step's key
    /// ([`Repository::execute_once`](crate::Repository::execute_once)); the second and
    /// later commands of one step use the key with `/2`, `/3`... A domain refusal is
    /// [`StepError::Rejected`], anything else [`StepError::Failed`].
    pub async fn execute<C: Command>(&self, command: C) -> Result<StepOutput, StepError> {
        let sent = self.sent.fetch_add(1, Ordering::Relaxed);
        let key = if sent == 0 {
            std::borrow::Cow::Borrowed(self.key.as_str())
        } else {
            std::borrow::Cow::Owned(format!("{}/{}", self.key, sent + 1))
        };
        match self
            .commands
            .execute_once_with(&key, command, self.metadata.clone())
            .await
        {
            Ok(_) => Ok(StepOutput::none()),
            Err(error) if error.is_rejection() => Err(StepError::Rejected(error.to_string())),
            Err(error) => Err(StepError::Failed(error.to_string())),
        }
    }
}
