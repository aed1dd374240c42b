//! `/v1/metrics/activity` and `/v1/metrics/growth`.

use axum::extract::State;
use axum::response::Response;
use chrono::{Duration, NaiveDate};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::error::{ApiError, ApiResult, ErrorEnvelope};
use crate::http::csv::{cell, Table};
use crate::keys::auth::Auth;
use crate::metrics::params::{self, Common, Ctx, MetricQuery};
use crate::metrics::reports::activity::{self, ActiveDaysBucket, ActivityDay, LEAD};
use crate::metrics::reports::growth::{self, GroupGrowth, GrowthDay, Referrals};
use crate::metrics::store::group_days::{self, GroupDays};
use crate::metrics::store::packed::Bits;
use crate::metrics::store::repo;
use crate::metrics::store::sets::{self, Span};
use crate::metrics::store::stints::{self, Stint};
use crate::state::AppState;

use crate::metrics::http::reply::{pending, respond, snapshot, snapshot_reads};

/// Daily activity of a period.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActivityReport {
    pub timezone: String,
    #[schema(value_type = String)]
    pub from: NaiveDate,
    #[schema(value_type = String)]
    pub to: NaiveDate,
    pub days: Vec<ActivityDay>,
    /// Mean DAU/MAU over the complete days (null when none had a MAU).
    pub stickiness: Option<f64>,
    /// Distinct members active on some complete day of the period.
    pub active_members: i64,
    /// Members by number of active complete days in the period.
    pub active_days_distribution: Vec<ActiveDaysBucket>,
    /// With `by=group|tier`: one row per group or tier of the scope, most members first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<Vec<activity::ActivityRow>>,
    /// True while some day of the period waits for its rollup (figures may lag).
    pub pending: bool,
}

/// Activity parameters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ActivityParams {
    /// Breakdown over the period: `group` or `tier` (the group's).
    #[param(inline)]
    pub by: Option<activity::Breakdown>,
}

impl params::Params for ActivityParams {
    const KEYS: &'static [&'static str] = &["by"];
}

/// Activity per local day: DAU, WAU, MAU, messages, active rate, stickiness.
#[utoipa::path(get, path = "/metrics/activity", tag = "metrics", params(Common, ActivityParams),
    responses((status = 200, body = ActivityReport, description = "JSON, or CSV with `format=csv`"),
        (status = 422, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn get_activity(
    State(state): State<AppState>,
    auth: Auth,
    MetricQuery(q, p): MetricQuery<ActivityParams>,
) -> ApiResult<Response> {
    let mut tx = snapshot(&state.pool).await?;
    let c = params::resolve(&mut tx, auth.workspace_id, &q, state.clock.now()).await?;
    let (span, seats, breakdown) = read_activity(&state.pool, &mut tx, &c, p.by.is_some()).await?;
    let rows = match (p.by, breakdown) {
        (Some(by), Some((days, tiers))) => Some(activity::breakdown_from_sets(by, &days, &seats, &tiers)),
        (Some(by), None) => Some(breakdown_from_rows(&mut tx, &c, by).await?),
        (None, _) => None,
    };
    let messages: Vec<i64> = span.days.iter().skip(LEAD).map(|d| d.messages).collect();
    let belonged = activity::belonging(c.tz, c.from, c.days(), &seats, |s| span.numbering.of_stint(s));
    let active: Vec<Bits> = span.days.into_iter().map(|d| d.active).collect();
    let inp = activity::Input {
        from: c.from,
        days: c.days(),
        today: c.today,
        active: &active,
        belonged: &belonged,
        messages: &messages,
    };
    let computed = activity::compute(&inp);
    let report = ActivityReport {
        timezone: c.tz_name.clone(),
        from: c.from,
        to: c.to,
        days: computed.days,
        stickiness: computed.stickiness,
        active_members: computed.active_members,
        active_days_distribution: computed.distribution,
        rows,
        pending: pending(&mut tx, &c, LEAD as i64).await?,
    };
    Ok(respond(c.format, report, "activity", activity_csv))
}

/// The group tiers, by group.
type Tiers = std::collections::HashMap<Uuid, Option<String>>;

/// The day sets of the period (with the lead days before it), the stints
/// overlapping it and, for a breakdown in the workspace's days, the groups'
/// day sets and tiers: on two connections of one snapshot.
async fn read_activity(
    pool: &PgPool,
    tx: &mut PgConnection,
    c: &Ctx,
    breakdown: bool,
) -> Result<(Span, Vec<Stint>, Option<(GroupDays, Tiers)>), sqlx::Error> {
    let lead_from = c.from - Duration::days(LEAD as i64);
    let (span, (seats, breakdown)) = snapshot_reads(
        pool,
        tx,
        async |conn| sets::span(conn, c, lead_from, c.to, sets::Messages::Count).await,
        async |conn| {
            let mask = sets::mask(&mut *conn, c).await?;
            let (lo, hi) = c.bounds();
            let seats = stints::read(&mut *conn, c, &mask, Some(lo), Some(hi), c.rollup_days).await?;
            // The breakdown's groups' day sets (workspace timezone), with the same mask.
            let breakdown = if breakdown && c.rollup_days {
                let days = group_days::read(&mut *conn, c, &mask, c.from, c.from, c.to).await?;
                Some((days, repo::group_tiers(&mut *conn, c).await?))
            } else {
                None
            };
            Ok((seats, breakdown))
        },
    )
    .await?;
    Ok((span, seats, breakdown))
}

/// The breakdown by group or tier from member-day and membership rows
/// (another timezone than the workspace's).
async fn breakdown_from_rows(
    conn: &mut PgConnection,
    c: &Ctx,
    by: activity::Breakdown,
) -> Result<Vec<activity::ActivityRow>, sqlx::Error> {
    let activity = repo::group_member_activity(&mut *conn, c, c.from, c.to).await?;
    let stints = repo::stints(&mut *conn, c).await?;
    let tiers = repo::group_tiers(&mut *conn, c).await?;
    Ok(activity::breakdown(&activity::RowsInput { by, activity: &activity, stints: &stints, tiers: &tiers }))
}

fn activity_csv(r: &ActivityReport) -> Table {
    if let Some(rows) = &r.rows {
        let mut t = Table::new(&["key", "members", "active_members", "active_rate", "messages"]);
        for x in rows {
            t.push(vec![
                x.key.clone(),
                x.members.to_string(),
                x.active_members.to_string(),
                cell(x.active_rate),
                x.messages.to_string(),
            ]);
        }
        return t;
    }
    let mut t = Table::new(&[
        "date",
        "dau",
        "wau",
        "mau",
        "messages",
        "members",
        "active_members",
        "active_rate",
        "incomplete",
    ]);
    for d in &r.days {
        t.push(vec![
            d.date.to_string(),
            cell(d.dau),
            cell(d.wau),
            cell(d.mau),
            cell(d.messages),
            cell(d.members),
            cell(d.active_members),
            cell(d.active_rate),
            d.incomplete.to_string(),
        ]);
    }
    t
}

/// Growth parameters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GrowthParams {
    /// N of "invitees who stayed N days" (1-365, default 7).
    #[param(minimum = 1, maximum = 365)]
    pub stay_days: Option<i64>,
}

impl params::Params for GrowthParams {
    const KEYS: &'static [&'static str] = &["stay_days"];
}

/// Growth of a period.
#[derive(Debug, Serialize, ToSchema)]
pub struct GrowthReport {
    pub timezone: String,
    #[schema(value_type = String)]
    pub from: NaiveDate,
    #[schema(value_type = String)]
    pub to: NaiveDate,
    /// Seats (member × group) when the period started.
    pub members_start: i64,
    pub days: Vec<GrowthDay>,
    /// Per group of the scope with a stint in the period.
    pub groups: Vec<GroupGrowth>,
    pub referrals: Referrals,
    /// Invite campaigns (`kind: referral`, lotteries' invite codes): per campaign and overall.
    pub invite_campaigns: crate::metrics::reports::invites::InviteCampaigns,
}

/// Joins, leaves, net growth, members at end of day, churn; referral stats.
#[utoipa::path(get, path = "/metrics/growth", tag = "metrics", params(Common, GrowthParams),
    responses((status = 200, body = GrowthReport, description = "JSON, or CSV with `format=csv`"),
        (status = 422, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn get_growth(
    State(state): State<AppState>,
    auth: Auth,
    MetricQuery(q, p): MetricQuery<GrowthParams>,
) -> ApiResult<Response> {
    let stay_days = p.stay_days.unwrap_or(7);
    if !(1..=365).contains(&stay_days) {
        return Err(ApiError::field("stay_days", "out_of_range", "must be 1-365"));
    }
    let now = state.clock.now();
    let mut tx = snapshot(&state.pool).await?;
    let c = params::resolve(&mut tx, auth.workspace_id, &q, now).await?;
    let stints = repo::stints(&mut tx, &c).await?;
    let invites = repo::invites(&mut tx, &c).await?;
    let g = growth::compute(&growth::Input {
        tz: c.tz,
        from: c.from,
        days: c.days(),
        today: c.today,
        now,
        stay_days,
        stints: &stints,
    });
    // The members at the end of the period (its last day with a figure).
    let members_end = g.days.iter().rev().find_map(|d| d.distinct_members_end).unwrap_or(0);
    let report = GrowthReport {
        timezone: c.tz_name.clone(),
        from: c.from,
        to: c.to,
        members_start: g.groups.iter().map(|x| x.members_start).sum(),
        days: g.days,
        groups: g.groups,
        invite_campaigns: crate::metrics::reports::invites::compute(&invites, members_end),
        referrals: g.referrals,
    };
    Ok(respond(c.format, report, "growth", growth_csv))
}

fn growth_csv(r: &GrowthReport) -> Table {
    let mut t = Table::new(&[
        "date",
        "joins",
        "leaves",
        "net",
        "members_end",
        "distinct_members_end",
        "churn_rate",
        "incomplete",
    ]);
    for d in &r.days {
        t.push(vec![
            d.date.to_string(),
            cell(d.joins),
            cell(d.leaves),
            cell(d.net),
            cell(d.members_end),
            cell(d.distinct_members_end),
            cell(d.churn_rate),
            d.incomplete.to_string(),
        ]);
    }
    t
}
