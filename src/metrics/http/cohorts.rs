//! `/v1/metrics/retention` and `/v1/metrics/lifecycle`.

use std::collections::HashMap;

use axum::extract::State;
use axum::response::Response;
use chrono::{Duration, NaiveDate};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ApiResult, ErrorEnvelope};
use crate::http::csv::{cell, Table};
use crate::keys::auth::Auth;
use crate::metrics::http::reply::{pending, respond, snapshot};
use crate::metrics::params::{self, Common, Ctx, MetricQuery};
use crate::metrics::period::{local_day, period_start, shift, Period};
use crate::metrics::reports::cohorts::{self, Average, Cohort, CohortBy, LifecyclePeriod, Measure, Member, Mode};
use crate::metrics::store::packed::Mask;
use crate::metrics::store::repo;
use crate::metrics::store::sets;
use crate::metrics::store::stints::{self, Who};
use crate::state::AppState;

/// Most periods a retention row may have.
const MAX_PERIODS: i64 = 60;

/// Retention parameters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RetentionParams {
    /// `join` (default) or `first_activity`.
    pub cohort: Option<CohortBy>,
    /// `day`, `week` (default) or `month`.
    pub period: Option<Period>,
    /// Periods per cohort, 1-60 (default 14 days, 12 weeks or 12 months).
    #[param(minimum = 1, maximum = 60)]
    pub periods: Option<i64>,
    /// `active` (default): active in the period; `member`: belonging at its end.
    pub measure: Option<Measure>,
    /// `on` (default): in period k; `on_or_after`: in period k or any later one.
    pub mode: Option<Mode>,
}

impl params::Params for RetentionParams {
    const KEYS: &'static [&'static str] = &["cohort", "period", "periods", "measure", "mode"];
}

/// Retention cohorts.
#[derive(Debug, Serialize, ToSchema)]
pub struct RetentionReport {
    pub timezone: String,
    /// First day of the first cohort.
    #[schema(value_type = String)]
    pub from: NaiveDate,
    #[schema(value_type = String)]
    pub to: NaiveDate,
    pub cohort: CohortBy,
    pub period: Period,
    pub periods: i64,
    pub measure: Measure,
    pub mode: Mode,
    pub cohorts: Vec<Cohort>,
    pub average: Average,
    pub pending: bool,
}

/// Without `from`, a report starts `n - 1` periods before the one holding `to`.
impl RetentionParams {
    /// The period and the number of periods per cohort (checked).
    fn periods(&self) -> ApiResult<(Period, i64)> {
        let period = self.period.unwrap_or(Period::Week);
        let n = self.periods.unwrap_or(if period == Period::Day { 14 } else { 12 });
        if !(1..=MAX_PERIODS).contains(&n) {
            return Err(ApiError::field("periods", "out_of_range", format!("must be 1-{MAX_PERIODS}")));
        }
        Ok((period, n))
    }
}

/// The cohorts' first day, the day after the last cohort, and the last day
/// any value needs (`mode` on: the end of the last cohort's `n` periods).
fn window(c: &Ctx, period: Period, n: i64, mode: Mode) -> (NaiveDate, NaiveDate, NaiveDate) {
    let starts = cohorts::cohort_starts(c.from, c.to, period, c.week_start);
    let last_start = starts[starts.len() - 1];
    let last = match mode {
        Mode::OnOrAfter => c.today,
        Mode::On => c.today.min(shift(last_start, period, n) - Duration::days(1)),
    };
    (starts[0], shift(last_start, period, 1), last)
}

fn default_from(q: &Common, c: &mut Ctx, period: Period, n: i64) {
    if q.from.is_none() {
        c.from = shift(period_start(c.to, period, c.week_start), period, -(n - 1));
    }
}

/// Each member's active days in `[lo, hi]` as dates, for the members of
/// `into` (keyed by their number in the day sets where they have one): from
/// the day sets, or from the raw events in another timezone (`ids`: the
/// members' ids; `only`: read just theirs — worth it when they are a small
/// part).
async fn add_active(
    conn: &mut sqlx::PgConnection,
    c: &Ctx,
    lo: NaiveDate,
    hi: NaiveDate,
    into: &mut HashMap<Who, Member>,
    ids: &HashMap<uuid::Uuid, Who>,
    only: bool,
) -> Result<(), sqlx::Error> {
    if lo > hi {
        return Ok(());
    }
    if c.rollup_days {
        let span = sets::span(conn, c, lo, hi, sets::Messages::Skip).await?;
        for (who, m) in into.iter_mut() {
            let Some(k) = who.idx() else { continue };
            m.active = span
                .days
                .iter()
                .zip(lo.iter_days())
                .filter(|(d, _)| d.active.contains(k))
                .map(|(_, day)| day)
                .collect();
        }
        return Ok(());
    }
    let named: Vec<uuid::Uuid> = ids.keys().copied().collect();
    for (id, offsets) in repo::active_days(conn, c, lo, hi, only.then_some(&named[..])).await? {
        if let Some(m) = ids.get(&id).and_then(|who| into.get_mut(who)) {
            m.active = offsets.iter().map(|o| lo + Duration::days(*o as i64)).collect();
            m.active.sort_unstable();
        }
    }
    Ok(())
}

/// Who a member read with their id and maybe their number is.
fn who(id: uuid::Uuid, idx: Option<i32>) -> Who {
    idx.and_then(|k| u32::try_from(k).ok()).map_or(Who::Id(id), Who::Idx)
}

/// Who enters a cohort of `[first, cohort_end)`: (member, their id when read
/// with it, the local day they entered — None: first active before the
/// cohorts, so in none). Counted members only (`mask`): packed stints with
/// the workspace's day sets, `memberships` with another zone's.
async fn cohort_entries(
    tx: &mut PgConnection,
    c: &Ctx,
    mask: &Mask,
    by: CohortBy,
    first: NaiveDate,
    cohort_end: NaiveDate,
) -> Result<Vec<(Who, Option<uuid::Uuid>, Option<NaiveDate>)>, sqlx::Error> {
    let day = |at: chrono::DateTime<chrono::Utc>| local_day(c.tz, at);
    Ok(match by {
        // Every stint of the scope's groups, the earliest per member.
        CohortBy::Join => {
            let mut first_join: HashMap<Who, (Option<uuid::Uuid>, chrono::DateTime<chrono::Utc>)> = HashMap::new();
            for s in stints::read(tx, c, mask, None, None, c.rollup_days).await? {
                let e = first_join.entry(s.who).or_insert((s.member_id, s.joined_at));
                e.1 = e.1.min(s.joined_at);
            }
            let (lo, hi) = (c.start(first), c.start(cohort_end));
            first_join
                .into_iter()
                .filter(|(_, (_, at))| *at >= lo && *at < hi)
                .map(|(w, (id, at))| (w, id, Some(day(at))))
                .collect()
        }
        // The whole workspace: first active days kept in the member index.
        CohortBy::FirstActivity if c.rollup_days && c.scope.groups.is_none() => {
            sets::first_active_between(tx, c, first, cohort_end - Duration::days(1))
                .await?
                .into_iter()
                .map(|(id, d, k)| (who(id, Some(k)), Some(id), Some(d)))
                .collect()
        }
        CohortBy::FirstActivity => repo::first_active(tx, c, first, cohort_end - Duration::days(1))
            .await?
            .into_iter()
            .map(|(id, at, k)| (who(id, k), Some(id), at.map(day)))
            .collect(),
    })
}

/// Adds to each cohort member their stints overlapping the days `first..=last`.
async fn add_stints(
    tx: &mut PgConnection,
    c: &Ctx,
    mask: &Mask,
    (first, last): (NaiveDate, NaiveDate),
    members: &mut HashMap<Who, Member>,
) -> Result<(), sqlx::Error> {
    let (lo, hi) = (c.start(first), c.start(last + Duration::days(1)));
    for s in stints::read(tx, c, mask, Some(lo), Some(hi), c.rollup_days).await? {
        if let Some(m) = members.get_mut(&s.who) {
            m.stints.push((s.joined_at, s.left_at));
        }
    }
    Ok(())
}

/// The cohorts' rows and their weighted average, as of `now`.
fn retention(
    c: &Ctx,
    (period, n): (Period, i64),
    (measure, mode): (Measure, Mode),
    now: chrono::DateTime<chrono::Utc>,
    members: &HashMap<Who, Member>,
) -> (Vec<Cohort>, Average) {
    let (tz, week_start, today, from, to) = (c.tz, c.week_start, c.today, c.from, c.to);
    let periods = n as usize;
    cohorts::retention(&cohorts::RetentionInput {
        tz,
        period,
        week_start,
        from,
        to,
        periods,
        measure,
        mode,
        today,
        now,
        members,
    })
}

/// The members active in `[lo, hi]`, each with their first active day (a
/// day before `lo` for those first active earlier) and active days, from
/// the rows (a group scope or another timezone).
async fn lifecycle_members(
    tx: &mut PgConnection,
    c: &Ctx,
    lo: NaiveDate,
    hi: NaiveDate,
) -> Result<HashMap<Who, Member>, sqlx::Error> {
    let mut members: HashMap<Who, Member> = HashMap::new();
    let mut ids: HashMap<uuid::Uuid, Who> = HashMap::new();
    if lo <= hi {
        for (id, at, k) in repo::first_active(tx, c, lo, hi).await? {
            // First active before `lo`: any earlier day says "not new" in every period.
            let first = at.map_or(lo - Duration::days(1), |at| local_day(c.tz, at));
            members.insert(who(id, k), Member { cohort_day: Some(first), ..Default::default() });
            ids.insert(id, who(id, k));
        }
    }
    // Every member active in the range is in `members`: no need to name them.
    add_active(tx, c, lo, hi, &mut members, &ids, false).await?;
    Ok(members)
}

/// Cohorts by join or first activity: members retained per period, as
/// active members or as members still in the scope's groups.
#[utoipa::path(get, path = "/metrics/retention", tag = "metrics", params(Common, RetentionParams),
    responses((status = 200, body = RetentionReport, description = "JSON, or CSV with `format=csv`"),
        (status = 422, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn get_retention(
    State(state): State<AppState>,
    auth: Auth,
    MetricQuery(q, p): MetricQuery<RetentionParams>,
) -> ApiResult<Response> {
    let (period, n) = p.periods()?;
    let (by, measure, mode) = (p.cohort.unwrap_or_default(), p.measure.unwrap_or_default(), p.mode.unwrap_or_default());
    let now = state.clock.now();
    let mut tx = snapshot(&state.pool).await?;
    let mut c = params::resolve(&mut tx, auth.workspace_id, &q, now).await?;
    default_from(&q, &mut c, period, n);
    let (first, cohort_end, last) = window(&c, period, n, mode);
    let mask = sets::mask(&mut tx, &c).await?;
    let entries = cohort_entries(&mut tx, &c, &mask, by, first, cohort_end).await?;
    let (mut members, ids) = cohorts::cohort_members(entries, first, cohort_end);
    match measure {
        Measure::Active => add_active(&mut tx, &c, first, last, &mut members, &ids, true).await?,
        Measure::Member => add_stints(&mut tx, &c, &mask, (first, last), &mut members).await?,
    }
    let (rows, average) = retention(&c, (period, n), (measure, mode), now, &members);
    let lead = (c.from - first).num_days();
    c.to = c.to.max(last);
    let report = RetentionReport {
        timezone: c.tz_name.clone(),
        from: first,
        to: cohort_end - Duration::days(1),
        cohort: by,
        period,
        periods: n,
        measure,
        mode,
        cohorts: rows,
        average,
        pending: pending(&mut tx, &c, lead).await?,
    };
    Ok(respond(c.format, report, "retention", retention_csv))
}

fn retention_csv(r: &RetentionReport) -> Table {
    let mut header = vec!["cohort".to_owned(), "size".to_owned()];
    header.extend((0..r.periods).map(|k| format!("period_{k}")));
    let mut t = Table::new(&header.iter().map(String::as_str).collect::<Vec<_>>());
    for c in &r.cohorts {
        let mut row = vec![c.start.to_string(), c.size.to_string()];
        row.extend(c.values.iter().map(|v| cell(*v)));
        t.push(row);
    }
    let mut row = vec!["average".to_owned(), String::new()];
    row.extend(r.average.rates.iter().map(|v| cell(*v)));
    t.push(row);
    t
}

/// Lifecycle parameters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LifecycleParams {
    /// `day`, `week` (default) or `month`.
    pub period: Option<Period>,
}

impl params::Params for LifecycleParams {
    const KEYS: &'static [&'static str] = &["period"];
}

/// Lifecycle of a period.
#[derive(Debug, Serialize, ToSchema)]
pub struct LifecycleReport {
    pub timezone: String,
    #[schema(value_type = String)]
    pub from: NaiveDate,
    #[schema(value_type = String)]
    pub to: NaiveDate,
    pub period: Period,
    pub periods: Vec<LifecyclePeriod>,
    pub pending: bool,
}

/// Members new, returning, resurrecting and dormant per period.
#[utoipa::path(get, path = "/metrics/lifecycle", tag = "metrics", params(Common, LifecycleParams),
    responses((status = 200, body = LifecycleReport, description = "JSON, or CSV with `format=csv`"),
        (status = 422, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn get_lifecycle(
    State(state): State<AppState>,
    auth: Auth,
    MetricQuery(q, p): MetricQuery<LifecycleParams>,
) -> ApiResult<Response> {
    let period = p.period.unwrap_or(Period::Week);
    let mut tx = snapshot(&state.pool).await?;
    let mut c = params::resolve(&mut tx, auth.workspace_id, &q, state.clock.now()).await?;
    default_from(&q, &mut c, period, 12);
    let starts = cohorts::cohort_starts(c.from, c.to, period, c.week_start);
    let lo = shift(starts[0], period, -1);
    let hi = c.today.min(shift(starts[starts.len() - 1], period, 1) - Duration::days(1));
    let (from, to) = (c.from, c.to);
    let periods = if c.rollup_days && c.scope.groups.is_none() {
        // The whole workspace: active days from the day sets, first active days from the member index.
        let (days, first) = sets::lifecycle_sets(&mut tx, &c, lo, hi).await?;
        cohorts::lifecycle_of_sets(from, to, period, c.week_start, c.today, lo, &days, &first)
    } else {
        let members = lifecycle_members(&mut tx, &c, lo, hi).await?;
        cohorts::lifecycle(from, to, period, c.week_start, c.today, members.values())
    };
    let lead = (c.from - lo).num_days();
    c.to = c.to.max(hi);
    let report = LifecycleReport {
        timezone: c.tz_name.clone(),
        from: starts[0],
        to: shift(starts[starts.len() - 1], period, 1) - Duration::days(1),
        period,
        periods,
        pending: pending(&mut tx, &c, lead).await?,
    };
    Ok(respond(c.format, report, "lifecycle", lifecycle_csv))
}

fn lifecycle_csv(r: &LifecycleReport) -> Table {
    let mut t = Table::new(&["start", "new", "returning", "resurrecting", "dormant", "active", "incomplete"]);
    for p in &r.periods {
        t.push(vec![
            p.start.to_string(),
            cell(p.new),
            cell(p.returning),
            cell(p.resurrecting),
            cell(p.dormant),
            cell(p.active),
            p.incomplete.to_string(),
        ]);
    }
    t
}
