//! `/v1/metrics/groups/health`: a 0-100 score per group with its
//! components, and the groups that are declining or dead. The figures come
//! from the group-day sets (workspace timezone) or the member-day SQL
//! (another timezone); the score itself is `health`'s pure arithmetic.

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
use crate::metrics::http::groups::default_window;
use crate::metrics::http::reply::{pending, respond, snapshot, snapshot_reads};
use crate::metrics::params::{self, Common, Ctx, MetricQuery};
use crate::metrics::reports::health::{self, GroupHealth, Rules, ScopeReads, Status, StatusCounts};
use crate::metrics::store::group_days;
use crate::metrics::store::repo;
use crate::metrics::store::sets;
use crate::metrics::store::stints;
use crate::state::AppState;

/// Health parameters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HealthParams {
    /// Dead when no message on any of the window's last N days (1-365, default 14).
    #[param(minimum = 1, maximum = 365)]
    pub dead_after_days: Option<i64>,
    /// Declining when the active rate is under this (0-1, default 0.1).
    #[param(minimum = 0, maximum = 1)]
    pub min_active_rate: Option<f64>,
    /// Only groups in this state.
    pub status: Option<Status>,
}

impl params::Params for HealthParams {
    const KEYS: &'static [&'static str] = &["dead_after_days", "min_active_rate", "status"];
}

/// Health of the scope's groups.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthReport {
    pub timezone: String,
    #[schema(value_type = String)]
    pub from: NaiveDate,
    #[schema(value_type = String)]
    pub to: NaiveDate,
    pub days: i64,
    pub dead_after_days: i64,
    pub min_active_rate: f64,
    /// Every active group of the scope (before the `status` filter).
    pub counts: StatusCounts,
    /// Dead first, then declining, then healthy; lowest score first.
    pub items: Vec<GroupHealth>,
    /// The window reaches today: figures are partial.
    pub incomplete: bool,
    pub pending: bool,
}

/// A 0-100 health score per group with its components, and the groups
/// that are declining or dead.
#[utoipa::path(get, path = "/metrics/groups/health", tag = "metrics", params(Common, HealthParams),
    responses((status = 200, body = HealthReport, description = "JSON, or CSV with `format=csv`"),
        (status = 422, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn get_groups_health(
    State(state): State<AppState>,
    auth: Auth,
    MetricQuery(q, p): MetricQuery<HealthParams>,
) -> ApiResult<Response> {
    let dead_after_days = p.dead_after_days.unwrap_or(14);
    if !(1..=365).contains(&dead_after_days) {
        return Err(ApiError::field("dead_after_days", "out_of_range", "must be 1-365"));
    }
    let min_active_rate = p.min_active_rate.unwrap_or(0.1);
    if !(0.0..=1.0).contains(&min_active_rate) {
        return Err(ApiError::field("min_active_rate", "out_of_range", "must be 0-1"));
    }
    let mut tx = snapshot(&state.pool).await?;
    let mut c = params::resolve(&mut tx, auth.workspace_id, &q, state.clock.now()).await?;
    default_window(&q, &mut c);
    if c.from > c.to {
        return Err(ApiError::field("from", "invalid", "must not be after `to`"));
    }
    let days = c.days() as i64;
    let before = c.from - Duration::days(days);
    let figures = figures(&state.pool, &mut tx, &c, before).await?;
    let rules = Rules { dead_after_days, min_active_rate };
    let (counts, items) = health::all_groups(figures, c.to, days, rules, p.status);
    let report = HealthReport {
        timezone: c.tz_name.clone(),
        from: c.from,
        to: c.to,
        days,
        dead_after_days,
        min_active_rate,
        counts,
        items,
        incomplete: c.to >= c.today,
        pending: pending(&mut tx, &c, days).await?,
    };
    Ok(respond(c.format, report, "groups-health", health_csv))
}

/// The figures of the window `[c.from, c.to]` (activity also of the window
/// before, from `before`): from the group-day sets in the workspace
/// timezone, else from the member-day SQL.
pub(crate) async fn figures(
    pool: &PgPool,
    tx: &mut PgConnection,
    c: &Ctx,
    before: NaiveDate,
) -> Result<ScopeReads, sqlx::Error> {
    let (lo, hi) = c.bounds();
    let last_join = c.to - Duration::days(health::SETTLE_DAYS - 1);
    let (joins_lo, joins_hi) = (lo, c.start(last_join + Duration::days(1)));
    let settle = Duration::days(health::SETTLE_DAYS);
    if c.rollup_days {
        // The window's sets and last messages on this connection; the window
        // before's sets, the stints and joins beside them (same snapshot).
        let sets_side = async |conn: &mut sqlx::PgConnection| -> Result<_, sqlx::Error> {
            let mask = sets::mask(&mut *conn, c).await?;
            let days = group_days::read(&mut *conn, c, &mask, c.from, c.from, c.to).await?;
            // Last message days: from the sets for groups with one in the window; searched for the others.
            let recent = group_days::last_message_days(&days, c.from);
            let known: Vec<Uuid> = recent.keys().copied().collect();
            let mut groups = repo::group_last_messages(&mut *conn, c, c.to, &known).await?;
            for (g, _, last) in &mut groups {
                if let Some(day) = recent.get(g) {
                    *last = Some(*day);
                }
            }
            Ok((days, groups))
        };
        // Joins in the window are stints overlapping it, so one read serves both.
        let stints_side = async |conn: &mut sqlx::PgConnection| -> Result<_, sqlx::Error> {
            let mask = sets::mask(&mut *conn, c).await?;
            let earlier = group_days::read(&mut *conn, c, &mask, before, c.from, c.from - Duration::days(1)).await?;
            let all = stints::read(&mut *conn, c, &mask, Some(lo), Some(hi), true).await?;
            let joins: Vec<group_days::Join> = all
                .iter()
                .filter(|s| last_join >= c.from && s.joined_at >= joins_lo && s.joined_at < joins_hi)
                .map(|s| (s.group_id, s.who.idx().and_then(|k| i32::try_from(k).ok()), s.joined_at))
                .collect();
            Ok((earlier, stints::membership(&all, lo, hi, settle), joins))
        };
        let ((window, groups), (earlier, membership, joins)) = snapshot_reads(pool, tx, sets_side, stints_side).await?;
        let days = group_days::GroupDays::concat(earlier, (c.from - before).num_days() as usize, window);
        let activation = group_days::activation(&days, c.tz, &joins, c.to, health::SETTLE_DAYS);
        Ok(ScopeReads { activity: group_days::activity(&days, c.from), activation, membership, groups })
    } else {
        let activity = repo::group_activity(tx, c, before, c.from, c.to).await?;
        let activation = if last_join >= c.from {
            repo::group_activation(tx, c, c.from, last_join, c.to, health::SETTLE_DAYS as i32).await?
        } else {
            Vec::new()
        };
        let activation = activation.into_iter().map(|(g, n, a)| (g, (n, a))).collect();
        // Another timezone's sets are numbered per request: stints from `memberships`, counted members only.
        let all = stints::read(&mut *tx, c, &crate::metrics::store::packed::Mask::default(), Some(lo), Some(hi), false)
            .await?;
        let membership = stints::membership(&all, lo, hi, settle);
        Ok(ScopeReads { activity, activation, membership, groups: repo::group_last_messages(tx, c, c.to, &[]).await? })
    }
}

fn health_csv(r: &HealthReport) -> Table {
    let mut t = Table::new(&[
        "group_id",
        "name",
        "score",
        "status",
        "reasons",
        "last_message_day",
        "active_rate",
        "stickiness",
        "activation",
        "new_member_retention",
        "net_growth",
        "concentration",
        "silence",
    ]);
    for h in &r.items {
        let c = &h.components;
        t.push(vec![
            h.group_id.to_string(),
            h.name.clone(),
            h.score.to_string(),
            serde_json::to_value(h.status).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(),
            h.reasons.join(" "),
            h.last_message_day.map(|d| d.to_string()).unwrap_or_default(),
            cell(c.active_rate.value),
            cell(c.stickiness.value),
            cell(c.activation.value),
            cell(c.new_member_retention.value),
            cell(c.net_growth.value),
            cell(c.concentration.value),
            cell(c.silence.value),
        ]);
    }
    t
}
