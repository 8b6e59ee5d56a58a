//! An order system: one aggregate on the write side, three read models on the
//! read side.
//!
//! An [`Order`] is placed, paid, shipped or cancelled; its commands enforce the rules (an
//! order is paid once and exactly its total, only a paid order ships, a shipped order cannot
//! be cancelled). Each read model is a projection fed from the global log by a
//! [`ProjectionRunner`](annals::projection::ProjectionRunner), eventually consistent with the
//! orders, and shaped for the one question it answers:
//!
//! - [`OrderSummary`]: what a customer sees of each order (status, total, tracking);
//! - [`SalesAnalytics`]: revenue, orders per status and units sold per SKU, from only the
//!   events sales cares about (it never reads [`OrderShipped`]);
//! - [`ShippingQueue`]: what the warehouse must pack, paid orders in the order they were paid.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use annals::{
    Aggregate, Apply, Command, DateTime, Event, Handle, Project, Projection, Recorded, Utc,
};
use serde::{Deserialize, Serialize};

// ---------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------

/// One line of an order: a quantity of one product at a unit price.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct OrderLine {
    /// The product's stock-keeping unit.
    pub sku: String,
    /// How many units.
    pub quantity: u32,
    /// The price of one unit, in cents.
    pub unit_price_cents: i64,
}

impl OrderLine {
    /// `quantity` units of `sku` at `unit_price_cents` each.
    pub fn new(sku: impl Into<String>, quantity: u32, unit_price_cents: i64) -> Self {
        OrderLine {
            sku: sku.into(),
            quantity,
            unit_price_cents,
        }
    }

    /// The line's total in cents, or `None` when it does not fit in an `i64`.
    pub fn checked_total_cents(&self) -> Option<i64> {
        self.unit_price_cents.checked_mul(i64::from(self.quantity))
    }
}

/// The total of `lines` in cents, or `None` when it does not fit in an `i64`.
pub fn checked_total_cents(lines: &[OrderLine]) -> Option<i64> {
    lines.iter().try_fold(0i64, |total, line| {
        total.checked_add(line.checked_total_cents()?)
    })
}

/// The total of `lines` in cents, saturating: for read models, which must not panic on any
/// stored data ([`PlaceOrder`] refuses totals that do not fit).
pub fn total_cents(lines: &[OrderLine]) -> i64 {
    lines.iter().fold(0i64, |total, line| {
        total.saturating_add(
            line.unit_price_cents
                .saturating_mul(i64::from(line.quantity)),
        )
    })
}

/// A customer placed an order.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct OrderPlaced {
    /// Who ordered.
    pub customer: String,
    /// What they ordered.
    pub lines: Vec<OrderLine>,
}

/// The order was paid, in full.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct OrderPaid {
    /// The amount received, in cents: the order's total.
    pub amount_cents: i64,
}

/// The order left the warehouse.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct OrderShipped {
    /// Who carries it.
    pub carrier: String,
    /// The carrier's tracking number.
    pub tracking: String,
}

/// The order was cancelled (and refunded, if it was paid).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct OrderCancelled {
    /// Why.
    pub reason: String,
}

/// Everything that can happen to an order.
#[derive(Event, Clone, Debug, PartialEq, Eq)]
pub enum OrderEvent {
    /// [`OrderPlaced`].
    OrderPlaced(OrderPlaced),
    /// [`OrderPaid`].
    OrderPaid(OrderPaid),
    /// [`OrderShipped`].
    OrderShipped(OrderShipped),
    /// [`OrderCancelled`].
    OrderCancelled(OrderCancelled),
}

// ---------------------------------------------------------------------------------------
// The aggregate
// ---------------------------------------------------------------------------------------

/// Where an order is in its life.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum OrderStatus {
    /// Placed, waiting for payment. (Also the state of an order with no events: every
    /// command but [`PlaceOrder`] requires the order to exist, so it is never decided on.)
    #[default]
    Placed,
    /// Paid, waiting to ship.
    Paid,
    /// On its way. Final.
    Shipped,
    /// Cancelled, and refunded if it was paid. Final.
    Cancelled,
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            OrderStatus::Placed => "placed",
            OrderStatus::Paid => "paid",
            OrderStatus::Shipped => "shipped",
            OrderStatus::Cancelled => "cancelled",
        })
    }
}

/// Why an order refuses a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    /// An order has at least one line.
    #[error("an order needs at least one line")]
    EmptyOrder,
    /// A line orders no units.
    #[error("line `{sku}` orders no units")]
    ZeroQuantity {
        /// The line's product.
        sku: String,
    },
    /// A line's unit price is zero or negative.
    #[error("line `{sku}` has a non-positive unit price of {unit_price_cents} cents")]
    NonPositivePrice {
        /// The line's product.
        sku: String,
        /// The price given.
        unit_price_cents: i64,
    },
    /// The order's total does not fit in an `i64` of cents.
    #[error("the order's total is too large")]
    TotalTooLarge,
    /// A payment must be exactly the order's total.
    #[error("the payment of {offered_cents} cents does not match the total of {total_cents} cents")]
    WrongAmount {
        /// The order's total.
        total_cents: i64,
        /// The amount offered.
        offered_cents: i64,
    },
    /// The order was paid already.
    #[error("the order is already paid")]
    AlreadyPaid,
    /// Only a paid order ships.
    #[error("the order is not paid yet")]
    NotPaid,
    /// The order has shipped: it can no longer be changed or cancelled.
    #[error("the order has already shipped")]
    AlreadyShipped,
    /// The order was cancelled.
    #[error("the order is cancelled")]
    Cancelled,
    /// A shipment names its carrier and tracking number.
    #[error("a shipment needs a carrier and a tracking number")]
    MissingTracking,
}

/// The state of one order: just what its decisions need.
#[derive(Aggregate, Default, Clone, Debug, PartialEq, Eq)]
#[aggregate(event = OrderEvent, error = OrderError, kind = "order")]
pub struct Order {
    /// Who ordered.
    pub customer: String,
    /// The order's total, in cents.
    pub total_cents: i64,
    /// Where it is in its life.
    pub status: OrderStatus,
}

impl Apply<OrderPlaced> for Order {
    fn apply(&mut self, event: &OrderPlaced) {
        self.customer = event.customer.clone();
        self.total_cents = total_cents(&event.lines);
        self.status = OrderStatus::Placed;
    }
}

impl Apply<OrderPaid> for Order {
    fn apply(&mut self, _: &OrderPaid) {
        self.status = OrderStatus::Paid;
    }
}

impl Apply<OrderShipped> for Order {
    fn apply(&mut self, _: &OrderShipped) {
        self.status = OrderStatus::Shipped;
    }
}

impl Apply<OrderCancelled> for Order {
    fn apply(&mut self, _: &OrderCancelled) {
        self.status = OrderStatus::Cancelled;
    }
}

// ---------------------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------------------

/// Place an order. Creates the order's stream.
#[derive(Command, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[command(aggregate = Order, expect = new)]
pub struct PlaceOrder {
    /// The order id.
    #[id]
    pub order: String,
    /// Who orders.
    pub customer: String,
    /// What they order.
    pub lines: Vec<OrderLine>,
}

/// Pay an order, in full.
#[derive(Command, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[command(aggregate = Order)]
pub struct PayOrder {
    /// The order id.
    #[id]
    pub order: String,
    /// The amount paid, in cents: must be the order's total.
    pub amount_cents: i64,
}

/// Hand a paid order to a carrier.
#[derive(Command, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[command(aggregate = Order)]
pub struct ShipOrder {
    /// The order id.
    #[id]
    pub order: String,
    /// Who carries it.
    pub carrier: String,
    /// The carrier's tracking number.
    pub tracking: String,
}

/// Cancel an order that has not shipped (a paid order is refunded).
#[derive(Command, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[command(aggregate = Order)]
pub struct CancelOrder {
    /// The order id.
    #[id]
    pub order: String,
    /// Why.
    pub reason: String,
}

/// Every order command, e.g. as received from an API.
#[derive(Command, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[command(aggregate = Order)]
pub enum OrderCommand {
    /// [`PlaceOrder`].
    PlaceOrder(PlaceOrder),
    /// [`PayOrder`].
    PayOrder(PayOrder),
    /// [`ShipOrder`].
    ShipOrder(ShipOrder),
    /// [`CancelOrder`].
    CancelOrder(CancelOrder),
}

impl Order {
    /// Refuses any change to a shipped or cancelled order.
    fn ensure_open(&self) -> Result<(), OrderError> {
        match self.status {
            OrderStatus::Shipped => Err(OrderError::AlreadyShipped),
            OrderStatus::Cancelled => Err(OrderError::Cancelled),
            OrderStatus::Placed | OrderStatus::Paid => Ok(()),
        }
    }
}

impl Handle<PlaceOrder> for Order {
    fn handle(&self, command: &PlaceOrder) -> Result<Vec<OrderEvent>, OrderError> {
        if command.lines.is_empty() {
            return Err(OrderError::EmptyOrder);
        }
        for line in &command.lines {
            if line.quantity == 0 {
                return Err(OrderError::ZeroQuantity {
                    sku: line.sku.clone(),
                });
            }
            if line.unit_price_cents <= 0 {
                return Err(OrderError::NonPositivePrice {
                    sku: line.sku.clone(),
                    unit_price_cents: line.unit_price_cents,
                });
            }
        }
        checked_total_cents(&command.lines).ok_or(OrderError::TotalTooLarge)?;
        Ok(vec![
            OrderPlaced {
                customer: command.customer.clone(),
                lines: command.lines.clone(),
            }
            .into(),
        ])
    }
}

impl Handle<PayOrder> for Order {
    fn handle(&self, command: &PayOrder) -> Result<Vec<OrderEvent>, OrderError> {
        self.ensure_open()?;
        if self.status == OrderStatus::Paid {
            return Err(OrderError::AlreadyPaid);
        }
        if command.amount_cents != self.total_cents {
            return Err(OrderError::WrongAmount {
                total_cents: self.total_cents,
                offered_cents: command.amount_cents,
            });
        }
        Ok(vec![
            OrderPaid {
                amount_cents: command.amount_cents,
            }
            .into(),
        ])
    }
}

impl Handle<ShipOrder> for Order {
    fn handle(&self, command: &ShipOrder) -> Result<Vec<OrderEvent>, OrderError> {
        self.ensure_open()?;
        if self.status != OrderStatus::Paid {
            return Err(OrderError::NotPaid);
        }
        if command.carrier.trim().is_empty() || command.tracking.trim().is_empty() {
            return Err(OrderError::MissingTracking);
        }
        Ok(vec![
            OrderShipped {
                carrier: command.carrier.clone(),
                tracking: command.tracking.clone(),
            }
            .into(),
        ])
    }
}

impl Handle<CancelOrder> for Order {
    fn handle(&self, command: &CancelOrder) -> Result<Vec<OrderEvent>, OrderError> {
        self.ensure_open()?;
        Ok(vec![
            OrderCancelled {
                reason: command.reason.clone(),
            }
            .into(),
        ])
    }
}

// ---------------------------------------------------------------------------------------
// How commands read in a log or a printed story
// ---------------------------------------------------------------------------------------

/// Cents as `12.34` (no currency: the example has one).
pub fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

impl fmt::Display for OrderLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} × {} @ {}",
            self.quantity,
            self.sku,
            money(self.unit_price_cents)
        )
    }
}

impl fmt::Display for PlaceOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} places {}: ", self.customer, self.order)?;
        if self.lines.is_empty() {
            return f.write_str("(nothing)");
        }
        for (i, line) in self.lines.iter().enumerate() {
            write!(f, "{}{line}", if i == 0 { "" } else { ", " })?;
        }
        Ok(())
    }
}

impl fmt::Display for PayOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pay {} for {}", money(self.amount_cents), self.order)
    }
}

impl fmt::Display for ShipOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ship {} with {} ({})",
            self.order, self.carrier, self.tracking
        )
    }
}

impl fmt::Display for CancelOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cancel {}: {:?}", self.order, self.reason)
    }
}

// ---------------------------------------------------------------------------------------
// Read models
// ---------------------------------------------------------------------------------------

/// The order id of an order's stream id: `"order-o-0001"` → `"o-0001"` (the inverse of
/// [`Aggregate::stream_id`] for [`Order`]; projections see stream ids).
pub fn order_id(stream_id: &str) -> &str {
    stream_id
        .strip_prefix(Order::KIND)
        .and_then(|rest| rest.strip_prefix('-'))
        .unwrap_or(stream_id)
}

/// How an order was shipped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shipment {
    /// Who carries it.
    pub carrier: String,
    /// The carrier's tracking number.
    pub tracking: String,
}

/// One order, as its customer sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderView {
    /// Who ordered.
    pub customer: String,
    /// Where the order is.
    pub status: OrderStatus,
    /// The total, in cents.
    pub total_cents: i64,
    /// How many lines the order has.
    pub lines: usize,
    /// How many units, over all lines.
    pub units: u64,
    /// The carrier and tracking number, once shipped.
    pub shipment: Option<Shipment>,
    /// Why it was cancelled, if it was.
    pub cancellation: Option<String>,
    /// When it was placed.
    pub placed_at: DateTime<Utc>,
    /// The order's stream version this view reflects.
    pub version: u64,
}

/// Every order, as its customer sees it: the read model behind "my orders".
#[derive(Projection, Default, Clone, Debug, PartialEq)]
#[projection(name = "order_summary", events(OrderEvent))]
pub struct OrderSummary {
    /// Each order's view, by order id.
    pub orders: BTreeMap<String, OrderView>,
}

impl OrderSummary {
    /// The view of one order.
    pub fn get(&self, order: &str) -> Option<&OrderView> {
        self.orders.get(order)
    }

    /// One customer's orders, by order id.
    pub fn for_customer<'a>(
        &'a self,
        customer: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a OrderView)> + 'a {
        self.orders
            .iter()
            .filter(move |(_, view)| view.customer == customer)
            .map(|(id, view)| (id.as_str(), view))
    }

    /// Moves an order's view to `version` with `change`; an order this read model never saw
    /// placed is ignored.
    fn update(&mut self, stream_id: &str, version: u64, change: impl FnOnce(&mut OrderView)) {
        if let Some(view) = self.orders.get_mut(order_id(stream_id)) {
            change(view);
            view.version = version;
        }
    }
}

impl Project<OrderPlaced> for OrderSummary {
    fn project(&mut self, placed: Recorded<'_, OrderPlaced>) {
        let view = OrderView {
            customer: placed.customer.clone(),
            status: OrderStatus::Placed,
            total_cents: total_cents(&placed.lines),
            lines: placed.lines.len(),
            units: placed.lines.iter().map(|l| u64::from(l.quantity)).sum(),
            shipment: None,
            cancellation: None,
            placed_at: placed.recorded_at,
            version: placed.stream_version,
        };
        self.orders
            .insert(order_id(placed.stream_id).to_owned(), view);
    }
}

impl Project<OrderPaid> for OrderSummary {
    fn project(&mut self, paid: Recorded<'_, OrderPaid>) {
        self.update(paid.stream_id, paid.stream_version, |view| {
            view.status = OrderStatus::Paid;
        });
    }
}

impl Project<OrderShipped> for OrderSummary {
    fn project(&mut self, shipped: Recorded<'_, OrderShipped>) {
        let Recorded {
            stream_id,
            stream_version,
            event,
            ..
        } = shipped;
        self.update(stream_id, stream_version, |view| {
            view.status = OrderStatus::Shipped;
            view.shipment = Some(Shipment {
                carrier: event.carrier,
                tracking: event.tracking,
            });
        });
    }
}

impl Project<OrderCancelled> for OrderSummary {
    fn project(&mut self, cancelled: Recorded<'_, OrderCancelled>) {
        let Recorded {
            stream_id,
            stream_version,
            event,
            ..
        } = cancelled;
        self.update(stream_id, stream_version, |view| {
            view.status = OrderStatus::Cancelled;
            view.cancellation = Some(event.reason);
        });
    }
}

/// Where an order is, for sales: shipping is not a sales event, so a shipped order is
/// still [`SaleStatus::Paid`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SaleStatus {
    /// Placed, not paid.
    AwaitingPayment,
    /// Paid (shipped or not).
    Paid,
    /// Cancelled, refunded if it was paid.
    Cancelled,
}

impl fmt::Display for SaleStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            SaleStatus::AwaitingPayment => "awaiting payment",
            SaleStatus::Paid => "paid",
            SaleStatus::Cancelled => "cancelled",
        })
    }
}

/// What sales needs to remember of an order that can still be paid or refunded.
#[derive(Clone, Debug, PartialEq, Eq)]
struct OpenSale {
    lines: Vec<OrderLine>,
    paid_cents: Option<i64>,
}

/// Revenue, orders per status and units sold per SKU.
///
/// It consumes only `OrderPlaced`, `OrderPaid` and `OrderCancelled`: the runner does not
/// even read `OrderShipped` events for it.
#[derive(Projection, Default, Clone, Debug, PartialEq)]
#[projection(
    name = "sales_analytics",
    events(OrderEvent::{OrderPlaced, OrderPaid, OrderCancelled})
)]
pub struct SalesAnalytics {
    /// Money kept, in cents: payments minus refunds.
    pub revenue_cents: i64,
    /// Money refunded for cancelled paid orders, in cents.
    pub refunded_cents: i64,
    /// How many orders are in each status.
    pub orders_by_status: BTreeMap<SaleStatus, u64>,
    /// Units of each SKU on paid orders (refunded orders excluded).
    pub units_by_sku: BTreeMap<String, u64>,
    /// Orders not cancelled, by order id: the lines to count once paid, and the payment to
    /// refund on a cancellation. (Paid orders stay here: without `OrderShipped` this read
    /// model cannot tell a shipped order, which can no longer be refunded.)
    open: HashMap<String, OpenSale>,
}

impl SalesAnalytics {
    /// How many orders are in `status`.
    pub fn orders(&self, status: SaleStatus) -> u64 {
        self.orders_by_status.get(&status).copied().unwrap_or(0)
    }

    /// Units of `sku` sold (on paid orders, refunds excluded).
    pub fn units_sold(&self, sku: &str) -> u64 {
        self.units_by_sku.get(sku).copied().unwrap_or(0)
    }

    fn count(&mut self, status: SaleStatus, change: i64) {
        let count = self.orders_by_status.entry(status).or_default();
        *count = count.saturating_add_signed(change);
        if *count == 0 {
            self.orders_by_status.remove(&status);
        }
    }

    fn add_units(&mut self, lines: &[OrderLine], sign: i64) {
        for line in lines {
            let units = self.units_by_sku.entry(line.sku.clone()).or_default();
            *units = units.saturating_add_signed(sign * i64::from(line.quantity));
        }
        self.units_by_sku.retain(|_, units| *units > 0);
    }
}

impl Project<OrderPlaced> for SalesAnalytics {
    fn project(&mut self, placed: Recorded<'_, OrderPlaced>) {
        let id = order_id(placed.stream_id).to_owned();
        self.open.insert(
            id,
            OpenSale {
                lines: placed.event.lines,
                paid_cents: None,
            },
        );
        self.count(SaleStatus::AwaitingPayment, 1);
    }
}

impl Project<OrderPaid> for SalesAnalytics {
    fn project(&mut self, paid: Recorded<'_, OrderPaid>) {
        let Some(sale) = self.open.get_mut(order_id(paid.stream_id)) else {
            return;
        };
        if sale.paid_cents.is_some() {
            return;
        }
        sale.paid_cents = Some(paid.amount_cents);
        let lines = sale.lines.clone();
        self.revenue_cents = self.revenue_cents.saturating_add(paid.amount_cents);
        self.add_units(&lines, 1);
        self.count(SaleStatus::AwaitingPayment, -1);
        self.count(SaleStatus::Paid, 1);
    }
}

impl Project<OrderCancelled> for SalesAnalytics {
    fn project(&mut self, cancelled: Recorded<'_, OrderCancelled>) {
        let Some(sale) = self.open.remove(order_id(cancelled.stream_id)) else {
            return;
        };
        match sale.paid_cents {
            Some(refund) => {
                self.revenue_cents = self.revenue_cents.saturating_sub(refund);
                self.refunded_cents = self.refunded_cents.saturating_add(refund);
                self.add_units(&sale.lines, -1);
                self.count(SaleStatus::Paid, -1);
            }
            None => self.count(SaleStatus::AwaitingPayment, -1),
        }
        self.count(SaleStatus::Cancelled, 1);
    }
}

/// A paid order waiting to ship: what the warehouse packs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parcel {
    /// The order id.
    pub order: String,
    /// Who it goes to.
    pub customer: String,
    /// What to pack.
    pub lines: Vec<OrderLine>,
    /// When it was paid.
    pub paid_at: Option<DateTime<Utc>>,
}

/// Orders paid but not yet shipped, in the order they were paid; shipped and cancelled
/// orders leave it.
///
/// "The order they were paid" is the order in which the runner hands over the `OrderPaid`
/// events, i.e. the store's global order, so the queue numbers them as they arrive.
#[derive(Projection, Default, Clone, Debug, PartialEq)]
#[projection(name = "shipping_queue", events(OrderEvent))]
pub struct ShippingQueue {
    /// The queue, by arrival number.
    queue: BTreeMap<u64, Parcel>,
    /// Each queued order's arrival number.
    queued: HashMap<String, u64>,
    /// The next arrival number.
    next: u64,
    /// Placed orders not paid yet, by order id: their parcels, ready to queue once paid.
    awaiting_payment: HashMap<String, Parcel>,
}

impl ShippingQueue {
    /// The parcels to ship, first paid first.
    pub fn parcels(&self) -> impl Iterator<Item = &Parcel> {
        self.queue.values()
    }

    /// The order ids to ship, first paid first.
    pub fn order_ids(&self) -> Vec<&str> {
        self.parcels().map(|p| p.order.as_str()).collect()
    }

    /// The parcel to pack next.
    pub fn next(&self) -> Option<&Parcel> {
        self.queue.values().next()
    }

    /// How many parcels wait.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Takes an order out of the queue (or out of the orders awaiting payment).
    fn remove(&mut self, order: &str) {
        if let Some(number) = self.queued.remove(order) {
            self.queue.remove(&number);
        }
        self.awaiting_payment.remove(order);
    }
}

impl Project<OrderPlaced> for ShippingQueue {
    fn project(&mut self, placed: Recorded<'_, OrderPlaced>) {
        let order = order_id(placed.stream_id).to_owned();
        let parcel = Parcel {
            order: order.clone(),
            customer: placed.event.customer,
            lines: placed.event.lines,
            paid_at: None,
        };
        self.awaiting_payment.insert(order, parcel);
    }
}

impl Project<OrderPaid> for ShippingQueue {
    fn project(&mut self, paid: Recorded<'_, OrderPaid>) {
        let order = order_id(paid.stream_id);
        if let Some(mut parcel) = self.awaiting_payment.remove(order) {
            parcel.paid_at = Some(paid.recorded_at);
            self.next += 1;
            self.queued.insert(order.to_owned(), self.next);
            self.queue.insert(self.next, parcel);
        }
    }
}

impl Project<OrderShipped> for ShippingQueue {
    fn project(&mut self, shipped: Recorded<'_, OrderShipped>) {
        self.remove(order_id(shipped.stream_id));
    }
}

impl Project<OrderCancelled> for ShippingQueue {
    fn project(&mut self, cancelled: Recorded<'_, OrderCancelled>) {
        self.remove(order_id(cancelled.stream_id));
    }
}

#[cfg(test)]
mod tests {
    //! The domain rules, decided alone (no store).

    use annals::testing::AggregateFixture;

    use super::*;

    fn placed(total: i64) -> OrderPlaced {
        OrderPlaced {
            customer: "Ada".into(),
            lines: vec![OrderLine::new("mug", 1, total)],
        }
    }

    fn pay(amount_cents: i64) -> PayOrder {
        PayOrder {
            order: "o-1".into(),
            amount_cents,
        }
    }

    fn ship() -> ShipOrder {
        ShipOrder {
            order: "o-1".into(),
            carrier: "DHL".into(),
            tracking: "JD1".into(),
        }
    }

    fn cancel() -> CancelOrder {
        CancelOrder {
            order: "o-1".into(),
            reason: "changed my mind".into(),
        }
    }

    #[test]
    fn an_order_needs_lines_with_units_and_prices() {
        let place = |lines| PlaceOrder {
            order: "o-1".into(),
            customer: "Ada".into(),
            lines,
        };
        AggregateFixture::<Order>::given_no_events()
            .when(place(vec![]))
            .then_error(OrderError::EmptyOrder);
        AggregateFixture::<Order>::given_no_events()
            .when(place(vec![OrderLine::new("mug", 0, 100)]))
            .then_error(OrderError::ZeroQuantity { sku: "mug".into() });
        AggregateFixture::<Order>::given_no_events()
            .when(place(vec![OrderLine::new("mug", 1, 0)]))
            .then_error(OrderError::NonPositivePrice {
                sku: "mug".into(),
                unit_price_cents: 0,
            });
        AggregateFixture::<Order>::given_no_events()
            .when(place(vec![OrderLine::new("gold", u32::MAX, i64::MAX / 2)]))
            .then_error(OrderError::TotalTooLarge);
    }

    #[test]
    fn a_payment_is_exactly_the_total_and_happens_once() {
        AggregateFixture::<Order>::given([placed(500)])
            .when(pay(400))
            .then_error(OrderError::WrongAmount {
                total_cents: 500,
                offered_cents: 400,
            });
        AggregateFixture::<Order>::given([placed(500)])
            .when(pay(500))
            .then_events([OrderPaid { amount_cents: 500 }]);
        AggregateFixture::<Order>::given([placed(500)])
            .and([OrderPaid { amount_cents: 500 }])
            .when(pay(500))
            .then_error(OrderError::AlreadyPaid);
    }

    #[test]
    fn only_a_paid_order_ships() {
        AggregateFixture::<Order>::given([placed(500)])
            .when(ship())
            .then_error(OrderError::NotPaid);
        AggregateFixture::<Order>::given([placed(500)])
            .and([OrderPaid { amount_cents: 500 }])
            .when(ship())
            .then_state(|order| assert_eq!(order.status, OrderStatus::Shipped));
    }

    #[test]
    fn a_shipped_order_cannot_be_cancelled_and_a_cancelled_one_cannot_be_paid() {
        AggregateFixture::<Order>::given([placed(500)])
            .and([OrderEvent::from(OrderPaid { amount_cents: 500 })])
            .and([OrderShipped {
                carrier: "DHL".into(),
                tracking: "JD1".into(),
            }])
            .when(cancel())
            .then_error(OrderError::AlreadyShipped);
        AggregateFixture::<Order>::given([placed(500)])
            .and([OrderCancelled {
                reason: "changed my mind".into(),
            }])
            .when(pay(500))
            .then_error(OrderError::Cancelled);
    }
}
