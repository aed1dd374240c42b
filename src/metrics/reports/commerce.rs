//! Commerce: GMV, orders, buyers, average order value, repurchase rate and
//! ARPU, in total, per local day and by group, tier or campaign. Orders
//! come from the `metric_orders` rollup: one payment per order (ingestion
//! dedupes), the first refund per order, capped at the paid amount.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::metrics::period::day_bounds;
pub use crate::metrics::store::rows::{Order, DEFAULT_ATTRIBUTION_DAYS};
use crate::metrics::store::stints::Who;

/// Breakdown of the commerce report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum By {
    Group,
    Tier,
    Campaign,
}

/// Commerce figures of one slice.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
#[schema(as = CommerceFigures)]
pub struct Figures {
    /// Paid amounts minus refunds, in minor units of the workspace currency.
    pub gmv: i64,
    /// Paid amounts before refunds.
    pub paid: i64,
    pub refunds: i64,
    /// Orders paid in the period.
    pub orders: i64,
    /// Orders refunded in the period.
    pub refunded_orders: i64,
    /// Distinct members with a paid order.
    pub buyers: i64,
    /// `gmv / orders`, rounded to a minor unit.
    pub aov: Option<i64>,
    /// Buyers with at least two paid orders / buyers.
    pub repurchase_rate: Option<f64>,
}

/// One row of a breakdown.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Row {
    /// Group id, tier key or campaign id; `none` (no group / tier) or `organic` (no campaign).
    pub key: String,
    #[serde(flatten)]
    pub figures: Figures,
}

/// One day's commerce.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[schema(as = CommerceDay)]
pub struct Day {
    #[schema(value_type = String)]
    pub date: NaiveDate,
    pub gmv: Option<i64>,
    pub orders: Option<i64>,
    pub buyers: Option<i64>,
    pub incomplete: bool,
}

#[derive(Default)]
struct Acc {
    f: Figures,
    orders_by_buyer: HashMap<Who, i64>,
}

impl Acc {
    fn paid(&mut self, o: &Order) {
        self.f.paid += o.amount;
        self.f.orders += 1;
        if let Some(m) = o.idx.map(Who::Idx).or(o.member_id.map(Who::Id)) {
            *self.orders_by_buyer.entry(m).or_default() += 1;
        }
    }
    fn refunded(&mut self, o: &Order) {
        self.f.refunds += o.refund;
        self.f.refunded_orders += 1;
    }
    fn absorb(&mut self, other: Acc) {
        self.f.paid += other.f.paid;
        self.f.orders += other.f.orders;
        self.f.refunds += other.f.refunds;
        self.f.refunded_orders += other.f.refunded_orders;
        for (m, n) in other.orders_by_buyer {
            *self.orders_by_buyer.entry(m).or_default() += n;
        }
    }
    fn finish(mut self) -> Figures {
        self.f.gmv = self.f.paid - self.f.refunds;
        self.f.buyers = self.orders_by_buyer.len() as i64;
        self.f.aov = (self.f.orders > 0).then(|| (self.f.gmv as f64 / self.f.orders as f64).round() as i64);
        let repeat = self.orders_by_buyer.values().filter(|n| **n >= 2).count() as f64;
        self.f.repurchase_rate = (self.f.buyers > 0).then(|| repeat / self.f.buyers as f64);
        self.f
    }
}

/// What [`compute`] returns.
pub struct Computed {
    pub total: Figures,
    pub rows: Vec<Row>,
    pub days: Vec<Day>,
}

/// Inputs of [`compute`]: orders paid or refunded in `[lo, hi)`.
pub struct Input<'a> {
    pub tz: Tz,
    pub from: NaiveDate,
    pub days: usize,
    pub today: NaiveDate,
    pub lo: DateTime<Utc>,
    pub hi: DateTime<Utc>,
    pub by: Option<By>,
    pub orders: &'a [Order],
}

/// A breakdown row's key, borrowed from the order (named by [`key_name`]).
type Key<'a> = (Option<Uuid>, Option<&'a str>);

fn key(o: &Order, by: By) -> Key<'_> {
    match by {
        By::Group => (o.group_id, None),
        By::Tier => (None, o.tier.as_deref()),
        By::Campaign => (o.campaign_id, None),
    }
}

fn key_name(k: Key, by: By) -> String {
    match (by, k) {
        (By::Group, (Some(g), _)) => g.to_string(),
        (By::Tier, (_, Some(t))) => t.to_owned(),
        (By::Campaign, (Some(c), _)) => c.to_string(),
        (By::Campaign, _) => "organic".to_owned(),
        _ => "none".to_owned(),
    }
}

/// The report's arithmetic (see `docs/metrics.md`, "commerce").
pub fn compute(inp: &Input) -> Computed {
    let within = |t: DateTime<Utc>| inp.lo <= t && t < inp.hi;
    let mut total = Acc::default();
    let mut rows: HashMap<Key, Acc> = HashMap::new();
    let mut days: Vec<Acc> = (0..inp.days).map(|_| Acc::default()).collect();
    // The local day of an instant by binary search in the days' bounds (no timezone conversion per order).
    let bounds = day_bounds(inp.tz, inp.from, inp.from + Duration::days(inp.days as i64));
    let day = |t: DateTime<Utc>| bounds.partition_point(|b| *b <= t).checked_sub(1);
    for o in inp.orders {
        let mut slices: Vec<&mut Acc> = Vec::with_capacity(3);
        slices.push(&mut total);
        if let Some(by) = inp.by {
            slices.push(rows.entry(key(o, by)).or_default());
        }
        for acc in slices {
            if within(o.paid_at) {
                acc.paid(o);
            }
            if o.refunded_at.is_some_and(within) {
                acc.refunded(o);
            }
        }
        if let Some(d) = within(o.paid_at).then(|| day(o.paid_at)).flatten().and_then(|d| days.get_mut(d)) {
            d.paid(o);
        }
        if let Some(r) = o.refunded_at.filter(|t| within(*t)) {
            if let Some(d) = day(r).and_then(|d| days.get_mut(d)) {
                d.refunded(o);
            }
        }
    }
    let days = days
        .into_iter()
        .enumerate()
        .map(|(i, acc)| {
            let date = inp.from + Duration::days(i as i64);
            let known = date <= inp.today;
            let f = acc.finish();
            Day {
                date,
                gmv: known.then_some(f.gmv),
                orders: known.then_some(f.orders),
                buyers: known.then_some(f.buyers),
                incomplete: date >= inp.today,
            }
        })
        .collect();
    // Keys that read the same (a tier named `none` and groups without a tier) share a row.
    let mut named: BTreeMap<String, Acc> = BTreeMap::new();
    for (k, acc) in rows {
        let Some(by) = inp.by else { break };
        named.entry(key_name(k, by)).or_default().absorb(acc);
    }
    let rows = named.into_iter().map(|(key, acc)| Row { key, figures: acc.finish() }).collect();
    Computed { total: total.finish(), rows, days }
}
/// Keeps the orders the report counts: those of `campaign` (a campaign
/// scope), in the workspace's currency. Returns how many of the orders paid
/// in `[lo, hi)` were in another currency (reported apart).
pub fn keep_counted(orders: &mut Vec<Order>, campaign: Option<Uuid>, (lo, hi): (DateTime<Utc>, DateTime<Utc>)) -> i64 {
    if let Some(campaign) = campaign {
        orders.retain(|o| o.campaign_id == Some(campaign));
    }
    let other = orders.iter().filter(|o| o.other_currency && lo <= o.paid_at && o.paid_at < hi).count() as i64;
    orders.retain(|o| !o.other_currency);
    other
}
