//! `GET /v1/channels/{id}/stats`: what a channel brought, per local day of
//! the workspace and per group — visits, joins, members still in 7 days
//! later, and the orders of the members it brought (docs/campaigns.md).

use std::collections::BTreeMap;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{Duration, NaiveDate};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::repo;
use super::visits::Visits;
use crate::error::{ApiError, ApiResult, ErrorEnvelope};
use crate::http::auth::Auth;
use crate::http::csv::{Format, Table};
use crate::http::extract::{ApiPath, ApiQuery};
use crate::metrics::period::day_start;
use crate::state::AppState;

/// Stats parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ChannelStatsQuery {
    /// First local day (inclusive, 1970-2999); default 29 days before `to`.
    /// Not after `to`, and at most 366 days before it.
    #[param(value_type = Option<String>, format = Date, pattern = "^(19[7-9][0-9]|2[0-9]{3})-[0-9]{2}-[0-9]{2}$")]
    pub from: Option<NaiveDate>,
    /// Last local day (inclusive); default today in the workspace's time zone.
    #[param(value_type = Option<String>, format = Date, pattern = "^(19[7-9][0-9]|2[0-9]{3})-[0-9]{2}-[0-9]{2}$")]
    pub to: Option<NaiveDate>,
    /// `json` (default) or `csv` (one row per day and group).
    #[param(inline)]
    pub format: Option<Format>,
}

/// A channel's figures over some days and groups.
#[derive(Debug, Default, Clone, Copy, Serialize, ToSchema)]
pub struct ChannelFigures {
    /// Visits to the link (sent to a group, or shown the full page).
    pub visits: i64,
    /// Of them, visits that found every group full (or the channel paused).
    pub full_visits: i64,
    /// Stints that began through the channel.
    pub joins: i64,
    /// Of those joins at least 7 days old, the members still in that group 7 days after joining.
    pub retained_7d: i64,
    /// Joins younger than 7 days whose members are still in (not decided yet).
    pub retained_7d_pending: i64,
    /// Orders paid by members the channel brought (after their first join through it).
    pub orders: i64,
    /// Their amounts less the refunds of the period (minor units, the workspace's currency).
    pub gmv: i64,
}

impl ChannelFigures {
    fn add(&mut self, o: &ChannelFigures) {
        self.visits += o.visits;
        self.full_visits += o.full_visits;
        self.joins += o.joins;
        self.retained_7d += o.retained_7d;
        self.retained_7d_pending += o.retained_7d_pending;
        self.orders += o.orders;
        self.gmv += o.gmv;
    }
}

/// One local day (the figures spelled out: no flattening in the schema).
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelDay {
    pub day: NaiveDate,
    pub visits: i64,
    pub full_visits: i64,
    pub joins: i64,
    pub retained_7d: i64,
    pub retained_7d_pending: i64,
    pub orders: i64,
    pub gmv: i64,
}

/// One group (null: visits that found every group full).
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelGroup {
    pub group_id: Option<Uuid>,
    pub visits: i64,
    pub full_visits: i64,
    pub joins: i64,
    pub retained_7d: i64,
    pub retained_7d_pending: i64,
    pub orders: i64,
    pub gmv: i64,
}

impl ChannelDay {
    fn of(day: NaiveDate, f: ChannelFigures) -> Self {
        let ChannelFigures { visits, full_visits, joins, retained_7d, retained_7d_pending, orders, gmv } = f;
        Self { day, visits, full_visits, joins, retained_7d, retained_7d_pending, orders, gmv }
    }
}

impl ChannelGroup {
    fn of(group_id: Option<Uuid>, f: ChannelFigures) -> Self {
        let ChannelFigures { visits, full_visits, joins, retained_7d, retained_7d_pending, orders, gmv } = f;
        Self { group_id, visits, full_visits, joins, retained_7d, retained_7d_pending, orders, gmv }
    }
}

/// A channel's stats.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelStats {
    pub channel_id: Uuid,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub timezone: String,
    pub currency: String,
    pub total: ChannelFigures,
    /// Every day of the period, oldest first.
    pub days: Vec<ChannelDay>,
    /// Every group with a figure in the period.
    pub groups: Vec<ChannelGroup>,
}

/// Visits, joins, members still in after 7 days, orders and GMV of the
/// members it brought, per local day and per group.
#[utoipa::path(get, path = "/channels/{id}/stats", tag = "channels", params(("id" = Uuid, Path), ChannelStatsQuery),
    responses((status = 200, body = ChannelStats, description = "JSON, or CSV with `format=csv`"),
        (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn get_channel_stats(
    State(state): State<AppState>,
    State(visits): State<Visits>,
    auth: Auth,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<ChannelStatsQuery>,
) -> ApiResult<Response> {
    let (ws, now) = (auth.workspace_id, state.clock.now());
    // This process's latest visits first (others' are at most a second old).
    if let Err(e) = visits.tally.flush(&state.pool).await {
        tracing::warn!(error = %e, "channel visits not stored before stats");
    }
    let mut conn = state.pool.acquire().await?;
    let ch = repo::get(&mut conn, ws, id).await?.ok_or(ApiError::NotFound("channel"))?;
    let w = crate::workspaces::repo::get(&mut conn, ws).await?.ok_or(ApiError::NotFound("workspace"))?;
    let tz = crate::clock::zone(&w.timezone);
    let to = q.to.unwrap_or_else(|| now.with_timezone(&tz).date_naive());
    let from = q.from.unwrap_or(to - Duration::days(29));
    check_period(from, to)?;
    let span = (day_start(tz, from), day_start(tz, to + Duration::days(1)));
    let mut cells: BTreeMap<(NaiveDate, Option<Uuid>), ChannelFigures> = BTreeMap::new();
    for (d, g, n) in repo::visits(&mut conn, ws, ch.id, from, to).await? {
        let f = cells.entry((d, g)).or_default();
        f.visits += n;
        if g.is_none() {
            f.full_visits += n;
        }
    }
    for (d, g, (joins, kept, pending)) in repo::joins(&mut conn, ws, ch.id, &w.timezone, span, now).await? {
        let f = cells.entry((d, g)).or_default();
        (f.joins, f.retained_7d, f.retained_7d_pending) = (joins, kept, pending);
    }
    for (d, g, (orders, gmv)) in repo::orders(&mut conn, ws, ch.id, (&w.timezone, &w.currency), span).await? {
        let f = cells.entry((d, g)).or_default();
        (f.orders, f.gmv) = (orders, gmv);
    }
    drop(conn);
    if q.format == Some(Format::Csv) {
        return Ok(csv(&cells).response(&format!("channel-{}-{from}-{to}", ch.code)));
    }
    Ok(Json(summarise(ch.id, (from, to), (w.timezone, w.currency), &cells)).into_response())
}

fn check_period(from: NaiveDate, to: NaiveDate) -> ApiResult<()> {
    let (lo, hi) = (NaiveDate::from_ymd_opt(1970, 1, 1), NaiveDate::from_ymd_opt(2999, 12, 31));
    if [from, to].iter().any(|d| lo.is_some_and(|l| *d < l) || hi.is_some_and(|h| *d > h)) {
        return Err(ApiError::field("from", "out_of_range", "dates must lie in the years 1970-2999"));
    }
    if from > to {
        return Err(ApiError::field("from", "invalid", "must not be after `to`"));
    }
    if (to - from).num_days() >= crate::metrics::params::MAX_DAYS {
        return Err(ApiError::field("from", "invalid", "the period is at most 366 days"));
    }
    Ok(())
}

type Cells = BTreeMap<(NaiveDate, Option<Uuid>), ChannelFigures>;

fn summarise(
    channel_id: Uuid,
    (from, to): (NaiveDate, NaiveDate),
    (timezone, currency): (String, String),
    cells: &Cells,
) -> ChannelStats {
    let mut total = ChannelFigures::default();
    let mut by_day: BTreeMap<NaiveDate, ChannelFigures> = BTreeMap::new();
    let mut by_group: BTreeMap<Option<Uuid>, ChannelFigures> = BTreeMap::new();
    for ((d, g), f) in cells {
        total.add(f);
        by_day.entry(*d).or_default().add(f);
        by_group.entry(*g).or_default().add(f);
    }
    let days = from
        .iter_days()
        .take_while(|d| *d <= to)
        .map(|day| ChannelDay::of(day, by_day.get(&day).copied().unwrap_or_default()))
        .collect();
    let groups = by_group.into_iter().map(|(g, f)| ChannelGroup::of(g, f)).collect();
    ChannelStats { channel_id, from, to, timezone, currency, total, days, groups }
}

fn csv(cells: &Cells) -> Table {
    let mut t = Table::new(&[
        "day",
        "group_id",
        "visits",
        "full_visits",
        "joins",
        "retained_7d",
        "retained_7d_pending",
        "orders",
        "gmv",
    ]);
    for ((d, g), f) in cells {
        t.push(vec![
            d.to_string(),
            g.map(|g| g.to_string()).unwrap_or_default(),
            f.visits.to_string(),
            f.full_visits.to_string(),
            f.joins.to_string(),
            f.retained_7d.to_string(),
            f.retained_7d_pending.to_string(),
            f.orders.to_string(),
            f.gmv.to_string(),
        ]);
    }
    t
}
