//! `/v1/metrics/commerce`: GMV, orders, buyers, AOV, repurchase rate and
//! ARPU. The orders are read in two halves on two connections of one
//! snapshot (packed payment days for the default attribution).

use std::collections::HashSet;

use axum::extract::State;
use axum::response::Response;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::error::{ApiError, ApiResult, ErrorEnvelope};
use crate::http::csv::{cell, Table};
use crate::keys::auth::Auth;
use crate::metrics::http::reply::{pending, respond, snapshot, snapshot_reads};
use crate::metrics::params::{self, Common, Ctx, MetricQuery};
use crate::metrics::reports::commerce::{self, By, Order};
use crate::metrics::store::{order_days, repo, sets};
use crate::state::AppState;

/// Commerce parameters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CommerceParams {
    /// Breakdown: `group`, `tier` (the group's) or `campaign` (attributed; `organic` when none).
    #[param(inline)]
    pub by: Option<By>,
    /// How far back a campaign link click attributes an order (0-90 days, default 7).
    #[param(minimum = 0, maximum = 90)]
    pub attribution_days: Option<i64>,
}

impl params::Params for CommerceParams {
    const KEYS: &'static [&'static str] = &["by", "attribution_days"];
}

/// Commerce of a period.
#[derive(Debug, Serialize, ToSchema)]
pub struct CommerceReport {
    pub timezone: String,
    /// ISO 4217 code of every amount (the workspace currency).
    pub currency: String,
    #[schema(value_type = String)]
    pub from: NaiveDate,
    #[schema(value_type = String)]
    pub to: NaiveDate,
    pub total: commerce::Figures,
    /// `gmv / active members` of the period (null when no one was active).
    pub arpu: Option<f64>,
    /// Distinct members active in the period (ARPU's denominator).
    pub active_members: i64,
    /// Orders of the scope paid in the period in another currency (left out of every figure).
    pub other_currency_orders: i64,
    pub rows: Vec<commerce::Row>,
    pub days: Vec<commerce::Day>,
    pub pending: bool,
}

/// GMV, orders, buyers, AOV, repurchase rate and ARPU, by group, tier or campaign.
#[utoipa::path(get, path = "/metrics/commerce", tag = "metrics", params(Common, CommerceParams),
    responses((status = 200, body = CommerceReport, description = "JSON, or CSV with `format=csv`"),
        (status = 422, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn get_commerce(
    State(state): State<AppState>,
    auth: Auth,
    MetricQuery(q, p): MetricQuery<CommerceParams>,
) -> ApiResult<Response> {
    let attribution = p.attribution_days.unwrap_or(commerce::DEFAULT_ATTRIBUTION_DAYS);
    if !(0..=90).contains(&attribution) {
        return Err(ApiError::field("attribution_days", "out_of_range", "must be 0-90"));
    }
    let mut tx = snapshot(&state.pool).await?;
    let c = params::resolve(&mut tx, auth.workspace_id, &q, state.clock.now()).await?;
    let (lo, hi) = c.bounds();
    // A campaign scope means the campaign's attributed orders, from any group.
    let groups = if c.scope.campaign.is_some() { None } else { c.scope.groups.as_deref() };
    let attribution = Duration::days(attribution);
    let want = repo::OrderColumns {
        group: p.by == Some(By::Group),
        tier: p.by == Some(By::Tier),
        campaign: p.by == Some(By::Campaign) || c.scope.campaign.is_some(),
    };
    let read = Read { c: &c, groups, attribution, want, lo, hi };
    let (mut orders, active_members) =
        if c.rollup_days && attribution == Duration::days(commerce::DEFAULT_ATTRIBUTION_DAYS) {
            read_packed(&state.pool, &mut tx, &read).await?
        } else {
            read_halves(&state.pool, &mut tx, &read).await?
        };
    let other_currency_orders = commerce::keep_counted(&mut orders, c.scope.campaign, (lo, hi));
    let (tz, from, days, today, by) = (c.tz, c.from, c.days(), c.today, p.by);
    let m = commerce::compute(&commerce::Input { tz, from, days, today, lo, hi, by, orders: &orders });
    let report = CommerceReport {
        timezone: c.tz_name.clone(),
        currency: c.currency.clone(),
        from: c.from,
        to: c.to,
        arpu: (active_members > 0).then(|| m.total.gmv as f64 / active_members as f64),
        active_members,
        total: m.total,
        other_currency_orders,
        rows: m.rows,
        days: m.days,
        // Clicks up to the attribution window before the period attribute its orders.
        pending: pending(&mut tx, &c, attribution.num_days()).await?,
    };
    Ok(respond(c.format, report, "commerce", commerce_csv))
}

/// What the commerce report reads: the orders paid or refunded in `[lo, hi)`
/// with the columns it needs, attributed under `attribution`.
struct Read<'a> {
    c: &'a Ctx,
    groups: Option<&'a [Uuid]>,
    attribution: Duration,
    want: repo::OrderColumns,
    lo: DateTime<Utc>,
    hi: DateTime<Utc>,
}

/// Members active in the period (for ARPU).
async fn count_active(conn: &mut PgConnection, c: &Ctx) -> Result<i64, sqlx::Error> {
    Ok(if c.rollup_days {
        let span = sets::span(&mut *conn, c, c.from, c.to, sets::Messages::Skip).await?;
        crate::metrics::store::packed::Bits::union_of(span.days.iter().map(|d| &d.active)).len() as i64
    } else {
        repo::active_members(&mut *conn, c, c.from, c.to).await?
    })
}

/// The default attribution in the workspace's days: the orders paid in the
/// period from the packed payment days and the refunds of earlier payments
/// on `tx`; the active members and the groups' tiers on a second
/// connection, same snapshot.
async fn read_packed(pool: &PgPool, tx: &mut PgConnection, r: &Read<'_>) -> Result<(Vec<Order>, i64), sqlx::Error> {
    let c = r.c;
    let orders_side = async |conn: &mut PgConnection| {
        let mask = sets::mask(&mut *conn, c).await?;
        let only: Option<HashSet<Uuid>> = r.groups.map(|g| g.iter().copied().collect());
        let filter = order_days::Filter { mask: &mask, groups: only.as_ref(), currency: &c.currency };
        let orders = order_days::read(&mut *conn, c.ws, c.from, c.to, &filter).await?;
        let part = repo::OrdersPart::RefundedPaidBefore(r.lo);
        Ok((orders, repo::orders(conn, c, r.groups, r.lo, r.hi, r.attribution, r.want, part).await?))
    };
    let active_side = async |conn: &mut PgConnection| -> Result<_, sqlx::Error> {
        let active = count_active(&mut *conn, c).await?;
        let tiers = if r.want.tier { Some(repo::group_tiers(&mut *conn, c).await?) } else { None };
        Ok((active, tiers))
    };
    let ((mut orders, refunds), (active, tiers)) = snapshot_reads(pool, tx, orders_side, active_side).await?;
    if let Some(tiers) = tiers {
        for o in &mut orders {
            o.tier = o.group_id.and_then(|g| tiers.get(&g).cloned().flatten());
        }
    }
    orders.extend(refunds);
    Ok((orders, active))
}

/// Any other attribution or timezone: the orders paid before the middle of
/// the period on `tx`; the active members and the other orders on a second
/// connection, same snapshot.
async fn read_halves(pool: &PgPool, tx: &mut PgConnection, r: &Read<'_>) -> Result<(Vec<Order>, i64), sqlx::Error> {
    let (c, mid) = (r.c, r.lo + (r.hi - r.lo) / 2);
    let orders_side = async |conn: &mut PgConnection| {
        repo::orders(conn, c, r.groups, r.lo, r.hi, r.attribution, r.want, repo::OrdersPart::PaidBefore(mid)).await
    };
    // The active members first: their read and decoding overlap the other half's query.
    let active_side = async |conn: &mut PgConnection| -> Result<_, sqlx::Error> {
        let active = count_active(&mut *conn, c).await?;
        let later = repo::orders(conn, c, r.groups, r.lo, r.hi, r.attribution, r.want, repo::OrdersPart::PaidFrom(mid));
        Ok((later.await?, active))
    };
    let (mut orders, (later, active)) = snapshot_reads(pool, tx, orders_side, active_side).await?;
    orders.extend(later);
    Ok((orders, active))
}

fn commerce_csv(r: &CommerceReport) -> Table {
    let mut t =
        Table::new(&["key", "gmv", "paid", "refunds", "orders", "refunded_orders", "buyers", "aov", "repurchase_rate"]);
    let mut push = |key: &str, f: &commerce::Figures| {
        t.push(vec![
            key.to_owned(),
            f.gmv.to_string(),
            f.paid.to_string(),
            f.refunds.to_string(),
            f.orders.to_string(),
            f.refunded_orders.to_string(),
            f.buyers.to_string(),
            cell(f.aov),
            cell(f.repurchase_rate),
        ]);
    };
    push("total", &r.total);
    for row in &r.rows {
        push(&row.key, &row.figures);
    }
    t
}
