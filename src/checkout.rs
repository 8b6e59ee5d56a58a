//! Checkout: the order saga. A customer's checkout creates the [order](crate::orders),
//! charges the payment, reserves the stock and sends a confirmation; when a product is out
//! of stock it refunds the payment and cancels the order, in that order (last done, first
//! undone).
//!
//! - A checkout is asked for with [`RequestCheckout`] on its own aggregate; the
//!   [`CheckoutSaga`] starts on the [`CheckoutRequested`] it records.
//! - The order and the stock are aggregates here ([`Order`](crate::orders::Order),
//!   [`Stock`]): their steps are commands, each sent once under the step's key.
//! - The payment provider and the mail server are outside services ([`PaymentGateway`],
//!   [`Mailer`]): they receive the step's key and must act once per key.
//! - The confirmation has no compensation: a mail sent is not unsent.

use std::sync::Arc;

use annals::saga::{Plan, React, Saga, StepContext, StepError, StepOutput, Steps};
use annals::{Aggregate, Apply, Command, Event, Handle, Recorded};
use serde::{Deserialize, Serialize};

use crate::orders::{CancelOrder, OrderLine, PlaceOrder, total_cents};

// ---------------------------------------------------------------------------------------
// The checkout request
// ---------------------------------------------------------------------------------------

/// A customer checked out their basket.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct CheckoutRequested {
    /// The checkout's id; the order gets the same.
    pub checkout: String,
    /// Who buys.
    pub customer: String,
    /// Where the confirmation goes.
    pub email: String,
    /// What they buy.
    pub lines: Vec<OrderLine>,
}

/// What happens to a checkout request.
#[derive(Event, Clone, Debug, PartialEq, Eq)]
pub enum CheckoutEvent {
    /// [`CheckoutRequested`].
    Requested(CheckoutRequested),
}

/// Why a checkout request is refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum CheckoutError {
    /// The basket is empty.
    #[error("a checkout buys something: the basket is empty")]
    EmptyBasket,
}

/// A checkout request.
#[derive(Aggregate, Default)]
#[aggregate(event = CheckoutEvent, error = CheckoutError, kind = "checkout")]
pub struct Checkout {
    requested: bool,
}

impl Apply<CheckoutRequested> for Checkout {
    fn apply(&mut self, _: &CheckoutRequested) {
        self.requested = true;
    }
}

/// Check a basket out.
#[derive(Command, Clone, Debug, PartialEq, Eq)]
#[command(aggregate = Checkout, expect = new)]
pub struct RequestCheckout {
    /// The checkout's id.
    #[id]
    pub checkout: String,
    /// Who buys.
    pub customer: String,
    /// Where the confirmation goes.
    pub email: String,
    /// What they buy.
    pub lines: Vec<OrderLine>,
}

impl Handle<RequestCheckout> for Checkout {
    fn handle(&self, command: &RequestCheckout) -> Result<Vec<CheckoutEvent>, CheckoutError> {
        if command.lines.is_empty() {
            return Err(CheckoutError::EmptyBasket);
        }
        Ok(vec![
            CheckoutRequested {
                checkout: command.checkout.clone(),
                customer: command.customer.clone(),
                email: command.email.clone(),
                lines: command.lines.clone(),
            }
            .into(),
        ])
    }
}

// ---------------------------------------------------------------------------------------
// The stock of one product
// ---------------------------------------------------------------------------------------

/// Units arrived.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Restocked {
    /// How many.
    pub quantity: u32,
}

/// Units were set aside for an order.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Reserved {
    /// How many.
    pub quantity: u32,
    /// For which order.
    pub order: String,
}

/// Units set aside for an order are back on the shelf.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Released {
    /// How many.
    pub quantity: u32,
    /// From which order.
    pub order: String,
}

/// What happens to a product's stock.
#[derive(Event, Clone, Debug, PartialEq, Eq)]
pub enum StockEvent {
    /// [`Restocked`].
    Restocked(Restocked),
    /// [`Reserved`].
    Reserved(Reserved),
    /// [`Released`].
    Released(Released),
}

/// Why a stock command is refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum StockError {
    /// Fewer units on hand than asked for.
    #[error("out of stock: {wanted} wanted, {on_hand} on hand")]
    OutOfStock {
        /// Units asked for.
        wanted: u32,
        /// Units on hand.
        on_hand: u32,
    },
}

/// The stock of one product (its SKU is the stream's id).
#[derive(Aggregate, Default, Debug)]
#[aggregate(event = StockEvent, error = StockError, kind = "stock")]
pub struct Stock {
    /// Units on the shelf, not set aside.
    pub on_hand: u32,
}

impl Apply<Restocked> for Stock {
    fn apply(&mut self, event: &Restocked) {
        self.on_hand += event.quantity;
    }
}

impl Apply<Reserved> for Stock {
    fn apply(&mut self, event: &Reserved) {
        self.on_hand -= event.quantity;
    }
}

impl Apply<Released> for Stock {
    fn apply(&mut self, event: &Released) {
        self.on_hand += event.quantity;
    }
}

/// Units arrive.
#[derive(Command, Clone, Debug, PartialEq, Eq)]
#[command(aggregate = Stock, expect = any)]
pub struct Restock {
    /// The product.
    #[id]
    pub sku: String,
    /// How many.
    pub quantity: u32,
}

/// Set units aside for an order.
#[derive(Command, Clone, Debug, PartialEq, Eq)]
#[command(aggregate = Stock, expect = any)]
pub struct Reserve {
    /// The product.
    #[id]
    pub sku: String,
    /// How many.
    pub quantity: u32,
    /// For which order.
    pub order: String,
}

/// Put units set aside for an order back on the shelf.
#[derive(Command, Clone, Debug, PartialEq, Eq)]
#[command(aggregate = Stock, expect = any)]
pub struct Release {
    /// The product.
    #[id]
    pub sku: String,
    /// How many.
    pub quantity: u32,
    /// From which order.
    pub order: String,
}

impl Handle<Restock> for Stock {
    fn handle(&self, command: &Restock) -> Result<Vec<StockEvent>, StockError> {
        Ok(vec![
            Restocked {
                quantity: command.quantity,
            }
            .into(),
        ])
    }
}

impl Handle<Reserve> for Stock {
    fn handle(&self, command: &Reserve) -> Result<Vec<StockEvent>, StockError> {
        if command.quantity > self.on_hand {
            return Err(StockError::OutOfStock {
                wanted: command.quantity,
                on_hand: self.on_hand,
            });
        }
        Ok(vec![
            Reserved {
                quantity: command.quantity,
                order: command.order.clone(),
            }
            .into(),
        ])
    }
}

impl Handle<Release> for Stock {
    fn handle(&self, command: &Release) -> Result<Vec<StockEvent>, StockError> {
        Ok(vec![
            Released {
                quantity: command.quantity,
                order: command.order.clone(),
            }
            .into(),
        ])
    }
}

// ---------------------------------------------------------------------------------------
// The outside services
// ---------------------------------------------------------------------------------------

/// Why the payment provider did not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentError {
    /// Refused for good (a card declined).
    #[error("declined: {0}")]
    Declined(String),
    /// Not reachable or failing for now: worth trying again.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

impl From<PaymentError> for StepError {
    fn from(error: PaymentError) -> Self {
        match error {
            PaymentError::Declined(reason) => StepError::rejected(reason),
            PaymentError::Unavailable(reason) => StepError::failed(reason),
        }
    }
}

/// The payment provider. Each call carries an idempotency key: a call repeated with a key
/// it has seen has no second effect (and answers as the first did).
#[annals::async_trait]
pub trait PaymentGateway: Send + Sync {
    /// Charges `customer` `amount` cents for `order`; returns the payment's id.
    async fn charge(
        &self,
        key: &str,
        customer: &str,
        order: &str,
        amount: i64,
    ) -> Result<String, PaymentError>;

    /// Pays `amount` cents of the payment for `order` back.
    async fn refund(&self, key: &str, order: &str, amount: i64) -> Result<(), PaymentError>;
}

/// The mail server; sends once per idempotency key.
#[annals::async_trait]
pub trait Mailer: Send + Sync {
    /// Sends `subject` to `to`.
    async fn send(&self, key: &str, to: &str, subject: &str) -> Result<(), String>;
}

/// What the checkout saga's steps call.
#[derive(Clone)]
pub struct CheckoutServices {
    /// The payment provider.
    pub payments: Arc<dyn PaymentGateway>,
    /// The mail server.
    pub mailer: Arc<dyn Mailer>,
}

// ---------------------------------------------------------------------------------------
// The saga
// ---------------------------------------------------------------------------------------

/// The order saga: create the order, charge, reserve each line's stock, confirm.
#[derive(Saga, Default, Serialize, Deserialize, Debug, PartialEq, Eq)]
#[saga(name = "checkout", starts(CheckoutEvent::{Requested}), id = checkout)]
pub struct CheckoutSaga {
    /// The checkout's (and order's) id.
    pub order: String,
    /// The amount charged, in cents.
    pub total: i64,
    /// The payment provider's id for the charge, once charged.
    pub payment: Option<String>,
}

/// The checkout's steps and compensations.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum CheckoutStep {
    /// Place the order (undone by [`CancelOrder`](CheckoutStep::CancelOrder)).
    PlaceOrder {
        /// The order.
        order: String,
        /// Who buys.
        customer: String,
        /// What they buy.
        lines: Vec<OrderLine>,
    },
    /// Cancel the order.
    CancelOrder {
        /// The order.
        order: String,
    },
    /// Charge the customer (undone by [`Refund`](CheckoutStep::Refund)).
    Charge {
        /// The order paid for.
        order: String,
        /// Who pays.
        customer: String,
        /// Cents.
        amount: i64,
    },
    /// Pay the charge back.
    Refund {
        /// The order paid for.
        order: String,
        /// Cents.
        amount: i64,
    },
    /// Set a line's units aside (undone by [`Release`](CheckoutStep::Release)).
    Reserve {
        /// The order.
        order: String,
        /// The product.
        sku: String,
        /// How many.
        quantity: u32,
    },
    /// Put them back.
    Release {
        /// The order.
        order: String,
        /// The product.
        sku: String,
        /// How many.
        quantity: u32,
    },
    /// Mail the customer; not undone.
    SendConfirmation {
        /// The order.
        order: String,
        /// The customer's address.
        email: String,
    },
}

impl React<CheckoutRequested> for CheckoutSaga {
    fn react(&mut self, event: Recorded<'_, CheckoutRequested>, plan: &mut Plan<CheckoutStep>) {
        let order = event.checkout.clone();
        self.order = order.clone();
        self.total = total_cents(&event.lines);
        plan.step(CheckoutStep::PlaceOrder {
            order: order.clone(),
            customer: event.customer.clone(),
            lines: event.lines.clone(),
        })
        .compensated_by(CheckoutStep::CancelOrder {
            order: order.clone(),
        });
        plan.step(CheckoutStep::Charge {
            order: order.clone(),
            customer: event.customer.clone(),
            amount: self.total,
        })
        .compensated_by(CheckoutStep::Refund {
            order: order.clone(),
            amount: self.total,
        });
        for line in &event.lines {
            plan.step(CheckoutStep::Reserve {
                order: order.clone(),
                sku: line.sku.clone(),
                quantity: line.quantity,
            })
            .compensated_by(CheckoutStep::Release {
                order: order.clone(),
                sku: line.sku.clone(),
                quantity: line.quantity,
            });
        }
        plan.step(CheckoutStep::SendConfirmation {
            order,
            email: event.email.clone(),
        });
        plan.complete();
    }
}

#[annals::async_trait]
impl Steps for CheckoutSaga {
    type Step = CheckoutStep;
    type Services = CheckoutServices;

    async fn perform(
        step: &CheckoutStep,
        context: &StepContext<'_, CheckoutServices>,
    ) -> Result<StepOutput, StepError> {
        let services = context.services();
        match step {
            CheckoutStep::PlaceOrder {
                order,
                customer,
                lines,
            } => {
                context
                    .execute(PlaceOrder {
                        order: order.clone(),
                        customer: customer.clone(),
                        lines: lines.clone(),
                    })
                    .await
            }
            CheckoutStep::CancelOrder { order } => {
                context
                    .execute(CancelOrder {
                        order: order.clone(),
                        reason: "checkout failed".to_owned(),
                    })
                    .await
            }
            CheckoutStep::Charge {
                order,
                customer,
                amount,
            } => {
                let payment = services
                    .payments
                    .charge(context.key(), customer, order, *amount)
                    .await?;
                Ok(StepOutput::json(&payment))
            }
            CheckoutStep::Refund { order, amount } => {
                services
                    .payments
                    .refund(context.key(), order, *amount)
                    .await?;
                Ok(StepOutput::none())
            }
            CheckoutStep::Reserve {
                order,
                sku,
                quantity,
            } => {
                context
                    .execute(Reserve {
                        sku: sku.clone(),
                        quantity: *quantity,
                        order: order.clone(),
                    })
                    .await
            }
            CheckoutStep::Release {
                order,
                sku,
                quantity,
            } => {
                context
                    .execute(Release {
                        sku: sku.clone(),
                        quantity: *quantity,
                        order: order.clone(),
                    })
                    .await
            }
            CheckoutStep::SendConfirmation { order, email } => {
                services
                    .mailer
                    .send(context.key(), email, &format!("Order {order} confirmed"))
                    .await
                    .map_err(StepError::failed)?;
                Ok(StepOutput::none())
            }
        }
    }

    fn on_done(&mut self, step: &CheckoutStep, output: &StepOutput, _: &mut Plan<CheckoutStep>) {
        if let CheckoutStep::Charge { .. } = step {
            self.payment = output.decode().ok();
        }
    }
}

/// The saga's name: its streams are `saga:checkout-{checkout}`.
pub const SAGA: &str = <CheckoutSaga as Saga>::NAME;
