//! The order read models (`OrderSummary`, `SalesAnalytics`, `ShippingQueue`), given events,
//! then their state: with `annals::testing::ProjectionFixture` (the projection alone, events
//! encoded, filtered and dispatched as the runner does), one behaviour per test; and once end
//! to end, through the command path and a `ProjectionRunner` on the in-memory store.

// Amounts are cents, written `units_cents` (39_90 is 39.90).
#![allow(clippy::inconsistent_digit_grouping)]

use std::time::Duration;

use annals::projection::ProjectionRunner;
use annals::store::{InMemoryStore, Metadata, RecordedEvent};
use annals::testing::ProjectionFixture;
use annals::{Aggregate, CommandError, Projection, Repository, Utc, Uuid};
use annals_examples::orders::{
    CancelOrder, Order, OrderCancelled, OrderError, OrderEvent, OrderLine, OrderPaid, OrderPlaced,
    OrderShipped, OrderStatus, OrderSummary, PayOrder, PlaceOrder, SaleStatus, SalesAnalytics,
    ShipOrder, Shipment, ShippingQueue,
};

// ---------------------------------------------------------------------------------------
// Events, as an order's history would hold them
// ---------------------------------------------------------------------------------------

/// The stream of order `id`, as the repository names it.
fn stream(id: &str) -> String {
    Order::stream_id(id)
}

fn placed(customer: &str, lines: &[(&str, u32, i64)]) -> OrderEvent {
    OrderPlaced {
        customer: customer.to_owned(),
        lines: lines
            .iter()
            .map(|&(sku, quantity, price)| OrderLine::new(sku, quantity, price))
            .collect(),
    }
    .into()
}

fn paid(amount_cents: i64) -> OrderEvent {
    OrderPaid { amount_cents }.into()
}

fn shipped(tracking: &str) -> OrderEvent {
    OrderShipped {
        carrier: "DHL".to_owned(),
        tracking: tracking.to_owned(),
    }
    .into()
}

fn cancelled(reason: &str) -> OrderEvent {
    OrderCancelled {
        reason: reason.to_owned(),
    }
    .into()
}

// ---------------------------------------------------------------------------------------
// OrderSummary: what a customer sees
// ---------------------------------------------------------------------------------------

/// A placed order shows its customer, the status `Placed`, its total (the sum of quantity ×
/// unit price over its lines), its number of lines and of units.
#[test]
fn order_summary_shows_a_placed_order_with_its_total_and_lines() {
    ProjectionFixture::new(OrderSummary::default())
        .given(
            &stream("o-1"),
            [placed("Ada", &[("rust-book", 2, 39_90), ("mug", 1, 12_50)])],
        )
        .then(|summary| {
            let view = summary.get("o-1").expect("o-1 is summarised");
            assert_eq!(view.customer, "Ada");
            assert_eq!(view.status, OrderStatus::Placed);
            assert_eq!(view.total_cents, 92_30);
            assert_eq!((view.lines, view.units), (2, 3));
            assert_eq!(
                (view.shipment.as_ref(), view.cancellation.as_ref()),
                (None, None)
            );
            assert_eq!(view.version, 1);
        });
}

/// The status follows the order's life, placed → paid → shipped, one event at a time, and
/// the view carries the tracking once shipped and the stream version it reflects.
#[test]
fn order_summary_status_goes_from_placed_to_paid_to_shipped() {
    let status = |summary: &OrderSummary| summary.get("o-1").map(|view| view.status);
    ProjectionFixture::new(OrderSummary::default())
        .given(&stream("o-1"), [placed("Ada", &[("mug", 1, 12_50)])])
        .then(|summary| assert_eq!(status(summary), Some(OrderStatus::Placed)))
        .given(&stream("o-1"), [paid(12_50)])
        .then(|summary| assert_eq!(status(summary), Some(OrderStatus::Paid)))
        .given(&stream("o-1"), [shipped("TRK1")])
        .then(|summary| {
            let view = &summary.orders["o-1"];
            assert_eq!(view.status, OrderStatus::Shipped);
            assert_eq!(
                view.shipment,
                Some(Shipment {
                    carrier: "DHL".into(),
                    tracking: "TRK1".into()
                })
            );
            assert_eq!(view.version, 3);
        });
}

/// A cancelled order shows `Cancelled` and the reason, whether it was paid or not.
#[test]
fn order_summary_shows_a_cancellation_and_its_reason() {
    ProjectionFixture::new(OrderSummary::default())
        .given(&stream("o-1"), [placed("Ada", &[("mug", 1, 12_50)])])
        .given(&stream("o-2"), [placed("Ada", &[("mug", 1, 12_50)])])
        .given(&stream("o-1"), [cancelled("changed my mind")])
        .given(&stream("o-2"), [paid(12_50), cancelled("ordered it twice")])
        .then(|summary| {
            for (order, reason) in [("o-1", "changed my mind"), ("o-2", "ordered it twice")] {
                let view = &summary.orders[order];
                assert_eq!(view.status, OrderStatus::Cancelled, "{order}");
                assert_eq!(view.cancellation.as_deref(), Some(reason), "{order}");
            }
        });
}

/// Each customer sees their own orders only, whatever the interleaving of streams.
#[test]
fn order_summary_lists_a_customers_own_orders() {
    ProjectionFixture::new(OrderSummary::default())
        .given(&stream("o-1"), [placed("Ada", &[("mug", 1, 12_50)])])
        .given(&stream("o-2"), [placed("Grace", &[("keyboard", 1, 89_00)])])
        .given(&stream("o-3"), [placed("Ada", &[("sticker", 3, 2_00)])])
        .given(&stream("o-1"), [paid(12_50)])
        .then(|summary| {
            let adas: Vec<(&str, OrderStatus)> = summary
                .for_customer("Ada")
                .map(|(id, view)| (id, view.status))
                .collect();
            assert_eq!(
                adas,
                [("o-1", OrderStatus::Paid), ("o-3", OrderStatus::Placed)]
            );
            assert_eq!(summary.for_customer("Grace").count(), 1);
            assert_eq!(summary.for_customer("Linus").count(), 0);
        });
}

// ---------------------------------------------------------------------------------------
// SalesAnalytics: revenue, orders per status, units per SKU
// ---------------------------------------------------------------------------------------

/// SalesAnalytics reads only the variants it names: the runner is asked for exactly these
/// event types, and `OrderShipped` is not among them.
#[test]
fn sales_analytics_consumes_only_placed_paid_and_cancelled() {
    assert_eq!(
        SalesAnalytics::event_types(),
        ["OrderPlaced", "OrderPaid", "OrderCancelled"]
    );
    assert!(OrderSummary::event_types().contains(&"OrderShipped"));
}

/// An event of a variant SalesAnalytics does not consume (`OrderShipped`) leaves it exactly
/// as it was.
#[test]
fn sales_analytics_is_unchanged_by_an_event_it_does_not_consume() {
    let before = ProjectionFixture::new(SalesAnalytics::default())
        .given(
            &stream("o-1"),
            [placed("Ada", &[("mug", 2, 12_50)]), paid(25_00)],
        )
        .into_projection();
    ProjectionFixture::new(before.clone())
        .given(&stream("o-1"), [shipped("TRK1")])
        .then(|after| assert_eq!(*after, before));
}

/// Even handed an `OrderShipped` directly (by a runner that did not filter), the generated
/// dispatch ignores it: the fixture's filter is not what keeps SalesAnalytics unchanged.
#[test]
fn sales_analytics_ignores_an_unconsumed_event_handed_to_it()
-> Result<(), Box<dyn std::error::Error>> {
    let before = ProjectionFixture::new(SalesAnalytics::default())
        .given(
            &stream("o-1"),
            [placed("Ada", &[("mug", 2, 12_50)]), paid(25_00)],
        )
        .into_projection();
    let encoded = annals::Event::encode(&shipped("TRK1"))?;
    let recorded = RecordedEvent {
        position: 3,
        stream_id: stream("o-1"),
        stream_version: 3,
        event_id: Uuid::now_v7(),
        event_type: encoded.event_type.to_owned(),
        schema_version: encoded.schema_version,
        payload: encoded.payload,
        metadata: Metadata::default(),
        recorded_at: Utc::now(),
    };
    let mut after = before.clone();
    after.project_recorded(&recorded)?;
    assert_eq!(after, before);
    Ok(())
}

/// Revenue counts paid orders only: a placed, unpaid order adds nothing but an order
/// awaiting payment.
#[test]
fn sales_analytics_counts_revenue_of_paid_orders_only() {
    ProjectionFixture::new(SalesAnalytics::default())
        .given(&stream("o-1"), [placed("Ada", &[("mug", 2, 12_50)])])
        .then(|sales| {
            assert_eq!(sales.revenue_cents, 0);
            assert_eq!(sales.units_sold("mug"), 0);
            assert_eq!(sales.orders(SaleStatus::AwaitingPayment), 1);
        })
        .given(&stream("o-1"), [paid(25_00)])
        .then(|sales| {
            assert_eq!(sales.revenue_cents, 25_00);
            assert_eq!(sales.orders(SaleStatus::AwaitingPayment), 0);
            assert_eq!(sales.orders(SaleStatus::Paid), 1);
        });
}

/// Units sold add up per SKU over the lines of every paid order.
#[test]
fn sales_analytics_adds_up_units_sold_per_sku() {
    ProjectionFixture::new(SalesAnalytics::default())
        .given(
            &stream("o-1"),
            [
                placed("Ada", &[("rust-book", 2, 39_90), ("mug", 1, 12_50)]),
                paid(92_30),
            ],
        )
        .given(
            &stream("o-2"),
            [placed("Grace", &[("mug", 4, 12_50)]), paid(50_00)],
        )
        .given(&stream("o-3"), [placed("Linus", &[("mug", 9, 12_50)])]) // not paid
        .then(|sales| {
            assert_eq!(sales.units_sold("rust-book"), 2);
            assert_eq!(sales.units_sold("mug"), 5);
            assert_eq!(sales.revenue_cents, 142_30);
        });
}

/// Orders are counted per status; cancelling an unpaid order moves it from awaiting payment
/// to cancelled, and a shipped order stays paid (sales does not see shipping).
#[test]
fn sales_analytics_counts_orders_per_status() {
    ProjectionFixture::new(SalesAnalytics::default())
        .given(&stream("o-1"), [placed("Ada", &[("mug", 1, 12_50)])])
        .given(&stream("o-2"), [placed("Grace", &[("mug", 1, 12_50)])])
        .given(&stream("o-3"), [placed("Linus", &[("mug", 1, 12_50)])])
        .given(&stream("o-1"), [paid(12_50), shipped("TRK1")])
        .given(&stream("o-2"), [cancelled("changed my mind")])
        .then(|sales| {
            assert_eq!(sales.orders(SaleStatus::AwaitingPayment), 1);
            assert_eq!(sales.orders(SaleStatus::Paid), 1);
            assert_eq!(sales.orders(SaleStatus::Cancelled), 1);
        });
}

/// Cancelling a paid order refunds it: its payment leaves the revenue for the refunds, and
/// its units leave the units sold.
#[test]
fn sales_analytics_refunds_a_cancelled_paid_order() {
    ProjectionFixture::new(SalesAnalytics::default())
        .given(
            &stream("o-1"),
            [placed("Ada", &[("mug", 1, 12_50)]), paid(12_50)],
        )
        .given(
            &stream("o-2"),
            [placed("Ada", &[("mug", 2, 12_50)]), paid(25_00)],
        )
        .given(&stream("o-2"), [cancelled("ordered it twice")])
        .then(|sales| {
            assert_eq!(sales.revenue_cents, 12_50);
            assert_eq!(sales.refunded_cents, 25_00);
            assert_eq!(sales.units_sold("mug"), 1);
            assert_eq!(sales.orders(SaleStatus::Paid), 1);
            assert_eq!(sales.orders(SaleStatus::Cancelled), 1);
        });
}

// ---------------------------------------------------------------------------------------
// ShippingQueue: paid, not shipped, first paid first
// ---------------------------------------------------------------------------------------

/// The queue holds paid orders in the order they were paid, not the order they were placed.
#[test]
fn shipping_queue_is_in_the_order_orders_were_paid() {
    ProjectionFixture::new(ShippingQueue::default())
        .given(&stream("o-1"), [placed("Ada", &[("mug", 1, 12_50)])])
        .given(&stream("o-2"), [placed("Grace", &[("keyboard", 1, 89_00)])])
        .given(&stream("o-3"), [placed("Linus", &[("sticker", 3, 2_00)])])
        .given(&stream("o-3"), [paid(6_00)])
        .given(&stream("o-1"), [paid(12_50)])
        .given(&stream("o-2"), [paid(89_00)])
        .then(|queue| {
            assert_eq!(queue.order_ids(), ["o-3", "o-1", "o-2"]);
            assert_eq!(queue.next().map(|p| p.customer.as_str()), Some("Linus"));
        });
}

/// An order placed but not paid is not in the queue.
#[test]
fn shipping_queue_leaves_out_unpaid_orders() {
    ProjectionFixture::new(ShippingQueue::default())
        .given(&stream("o-1"), [placed("Ada", &[("mug", 1, 12_50)])])
        .then(|queue| assert!(queue.is_empty()));
}

/// A queued parcel carries what to pack: the order's customer and lines.
#[test]
fn shipping_queue_parcels_carry_the_lines_to_pack() {
    ProjectionFixture::new(ShippingQueue::default())
        .given(
            &stream("o-1"),
            [
                placed("Barbara", &[("monitor", 1, 249_00), ("cable", 2, 9_50)]),
                paid(268_00),
            ],
        )
        .then(|queue| {
            let parcel = queue.next().expect("o-1 is queued");
            assert_eq!(parcel.order, "o-1");
            assert_eq!(parcel.customer, "Barbara");
            assert_eq!(
                parcel.lines,
                [
                    OrderLine::new("monitor", 1, 249_00),
                    OrderLine::new("cable", 2, 9_50)
                ]
            );
            assert!(parcel.paid_at.is_some());
        });
}

/// A shipped order leaves the queue, and the others keep their order.
#[test]
fn shipping_queue_drops_a_shipped_order() {
    ProjectionFixture::new(ShippingQueue::default())
        .given(
            &stream("o-1"),
            [placed("Ada", &[("mug", 1, 12_50)]), paid(12_50)],
        )
        .given(
            &stream("o-2"),
            [placed("Grace", &[("mug", 1, 12_50)]), paid(12_50)],
        )
        .given(
            &stream("o-3"),
            [placed("Linus", &[("mug", 1, 12_50)]), paid(12_50)],
        )
        .given(&stream("o-2"), [shipped("TRK2")])
        .then(|queue| assert_eq!(queue.order_ids(), ["o-1", "o-3"]));
}

/// A cancelled order leaves the queue if it was paid, and never enters it if it was not
/// (paying is then refused, but the queue must not depend on that).
#[test]
fn shipping_queue_drops_a_cancelled_order() {
    ProjectionFixture::new(ShippingQueue::default())
        .given(
            &stream("o-1"),
            [placed("Ada", &[("mug", 1, 12_50)]), paid(12_50)],
        )
        .given(&stream("o-2"), [placed("Grace", &[("mug", 1, 12_50)])])
        .given(&stream("o-1"), [cancelled("ordered it twice")])
        .given(&stream("o-2"), [cancelled("changed my mind")])
        .given(&stream("o-2"), [paid(12_50)])
        .then(|queue| assert!(queue.is_empty(), "{:?}", queue.order_ids()));
}

// ---------------------------------------------------------------------------------------
// End to end: commands → store → runner → read models
// ---------------------------------------------------------------------------------------

const WAIT: Duration = Duration::from_secs(10);

/// The three projections, side by side on one runner over an in-memory store, fed by the
/// command path: after `wait_for` with a command's position, each read model shows that
/// command's write (read-your-writes), and a rejected command records nothing.
#[tokio::test]
async fn the_three_read_models_follow_the_command_path() -> Result<(), Box<dyn std::error::Error>> {
    let store = InMemoryStore::new();
    let orders = Repository::<Order, _>::new(store.clone());
    let runner = ProjectionRunner::new(store.clone());
    let summary = runner.spawn(OrderSummary::default());
    let sales = runner.spawn(SalesAnalytics::default());
    let shipping = runner.spawn(ShippingQueue::default());

    let place = |order: &str, customer: &str, sku: &str, quantity, price| PlaceOrder {
        order: order.into(),
        customer: customer.into(),
        lines: vec![OrderLine::new(sku, quantity, price)],
    };
    let pay = |order: &str, amount_cents| PayOrder {
        order: order.into(),
        amount_cents,
    };
    orders.execute(place("o-1", "Ada", "mug", 2, 12_50)).await?;
    orders
        .execute(place("o-2", "Grace", "keyboard", 1, 89_00))
        .await?;
    orders
        .execute(place("o-3", "Linus", "sticker", 3, 2_00))
        .await?;
    orders.execute(pay("o-2", 89_00)).await?;

    // Read your writes: once the queue has reached the payment, it shows it.
    let paid = orders.execute(pay("o-1", 25_00)).await?;
    let position = paid.position.expect("a payment records an event");
    shipping.wait_for(position, WAIT).await?;
    assert_eq!(shipping.read(|q| q.order_ids().join(",")), "o-2,o-1");

    let shipped = orders
        .execute(ShipOrder {
            order: "o-2".into(),
            carrier: "DHL".into(),
            tracking: "TRK2".into(),
        })
        .await?;
    let cancelled = orders
        .execute(CancelOrder {
            order: "o-3".into(),
            reason: "changed my mind".into(),
        })
        .await?;
    assert!(shipped.position < cancelled.position);

    // Rejected: records nothing, so no read model changes.
    let rejected = orders.execute(pay("o-3", 6_00)).await;
    assert!(matches!(
        rejected,
        Err(CommandError::Rejected(OrderError::Cancelled))
    ));

    let last = cancelled.position.expect("a cancellation records an event");
    summary.wait_for(last, WAIT).await?;
    sales.wait_for(last, WAIT).await?;
    shipping.wait_for(last, WAIT).await?;

    summary.read(|summary| {
        let status = |order: &str| summary.get(order).map(|view| view.status);
        assert_eq!(status("o-1"), Some(OrderStatus::Paid));
        assert_eq!(status("o-2"), Some(OrderStatus::Shipped));
        assert_eq!(status("o-3"), Some(OrderStatus::Cancelled));
        assert_eq!(summary.orders["o-1"].total_cents, 25_00);
    });
    sales.read(|sales| {
        assert_eq!(sales.revenue_cents, 25_00 + 89_00);
        assert_eq!(sales.orders(SaleStatus::Paid), 2);
        assert_eq!(sales.orders(SaleStatus::Cancelled), 1);
        assert_eq!(sales.orders(SaleStatus::AwaitingPayment), 0);
        assert_eq!(sales.units_sold("mug"), 2);
        assert_eq!(sales.units_sold("keyboard"), 1);
        assert_eq!(sales.units_sold("sticker"), 0);
    });
    shipping.read(|queue| assert_eq!(queue.order_ids(), ["o-1"]));

    // Each handled what it consumes: 7 events in the log, of which sales skips the shipment.
    assert_eq!(summary.handled(), 7);
    assert_eq!(shipping.handled(), 7);
    assert_eq!(sales.handled(), 6);
    for lag in [
        summary.lag().await?,
        sales.lag().await?,
        shipping.lag().await?,
    ] {
        assert_eq!(
            (
                lag.checkpoint,
                lag.head,
                lag.positions_behind,
                lag.events_behind
            ),
            (last, last, 0, 0)
        );
        assert_eq!(lag.time_behind, Duration::ZERO);
    }

    summary.stop().await;
    sales.stop().await;
    shipping.stop().await;
    Ok(())
}
