//! The order saga of the checkout example, decided on the saga fixture: the steps in the
//! order the shop needs them, and what is undone (in reverse) when stock is short or a
//! refund keeps failing.

use std::time::Duration;

use annals::saga::{StepError, StepOutput};
use annals::testing::SagaFixture;
use annals_examples::checkout::{CheckoutEvent, CheckoutRequested, CheckoutSaga, CheckoutStep};
use annals_examples::orders::OrderLine;

fn requested(lines: Vec<OrderLine>) -> CheckoutEvent {
    CheckoutEvent::Requested(CheckoutRequested {
        checkout: "c1".into(),
        customer: "ada".into(),
        email: "ada@example.com".into(),
        lines,
    })
}

fn place(lines: &[OrderLine]) -> CheckoutStep {
    CheckoutStep::PlaceOrder {
        order: "c1".into(),
        customer: "ada".into(),
        lines: lines.to_vec(),
    }
}

fn charge(amount: i64) -> CheckoutStep {
    CheckoutStep::Charge {
        order: "c1".into(),
        customer: "ada".into(),
        amount,
    }
}

fn refund(amount: i64) -> CheckoutStep {
    CheckoutStep::Refund {
        order: "c1".into(),
        amount,
    }
}

fn reserve(sku: &str, quantity: u32) -> CheckoutStep {
    CheckoutStep::Reserve {
        order: "c1".into(),
        sku: sku.into(),
        quantity,
    }
}

fn release(sku: &str, quantity: u32) -> CheckoutStep {
    CheckoutStep::Release {
        order: "c1".into(),
        sku: sku.into(),
        quantity,
    }
}

fn cancel() -> CheckoutStep {
    CheckoutStep::CancelOrder { order: "c1".into() }
}

fn confirm() -> CheckoutStep {
    CheckoutStep::SendConfirmation {
        order: "c1".into(),
        email: "ada@example.com".into(),
    }
}

fn lines() -> Vec<OrderLine> {
    vec![
        OrderLine::new("book", 2, 1_000),
        OrderLine::new("lamp", 1, 4_500),
    ]
}

/// In stock: order, charge, each line reserved, confirmation; the payment's id is kept.
#[test]
fn a_checkout_in_stock_completes() {
    let lines = lines();
    SagaFixture::<CheckoutSaga>::new()
        .answers(charge(6_500), [Ok(StepOutput::json(&"pay-1"))])
        .when(requested(lines.clone()))
        .then_performed([
            place(&lines),
            charge(6_500),
            reserve("book", 2),
            reserve("lamp", 1),
            confirm(),
        ])
        .then_completed()
        .then(|view| assert_eq!(view.state.payment.as_deref(), Some("pay-1")));
}

/// Out of stock: what was reserved is released, then the payment refunded, then the order
/// cancelled; no confirmation.
#[test]
fn out_of_stock_refunds_then_cancels() {
    let lines = lines();
    SagaFixture::<CheckoutSaga>::new()
        .answers(
            reserve("lamp", 1),
            [Err(StepError::rejected("out of stock"))],
        )
        .when(requested(lines.clone()))
        .then_performed([
            place(&lines),
            charge(6_500),
            reserve("book", 2),
            reserve("lamp", 1),
            release("book", 2),
            refund(6_500),
            cancel(),
        ])
        .then_compensated();
}

/// A refund that keeps failing leaves the checkout with an operator, the order not yet
/// cancelled; the operator's retry refunds and cancels.
#[test]
fn a_failing_refund_waits_for_an_operator() {
    let lines = vec![OrderLine::new("lamp", 3, 4_500)];
    SagaFixture::<CheckoutSaga>::new()
        .answers(
            reserve("lamp", 3),
            [Err(StepError::rejected("out of stock"))],
        )
        .answers(
            refund(13_500),
            [
                Err(StepError::failed("provider down")),
                Err(StepError::failed("provider down")),
                Err(StepError::failed("provider down")),
                Err(StepError::failed("provider down")),
                Err(StepError::failed("provider down")),
                Ok(StepOutput::none()),
            ],
        )
        .when(requested(lines))
        .when_time_passes(Duration::from_secs(60))
        .then_performed(vec![refund(13_500); 4])
        .then_stuck_on(refund(13_500))
        .then(|view| assert_eq!(view.compensations, [refund(13_500), cancel()]))
        .when_operator_retries()
        .then_performed([refund(13_500), cancel()])
        .then_compensated();
}
