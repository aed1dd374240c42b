//! `/v1/metrics/funnel`.

use axum::extract::State;
use axum::response::Response;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ApiResult, ErrorEnvelope};
use crate::http::csv::{cell, Table};
use crate::keys::auth::Auth;
use crate::metrics::http::reply::{respond, snapshot};
use crate::metrics::params::{self, Common, Ctx, MetricQuery};
use crate::metrics::reports::funnel::{self, GroupRow, Preset, Step, StepFigures};
use crate::metrics::store::rows::Event;
use crate::metrics::store::{repo, timelines};
use crate::state::AppState;

/// Longest conversion window.
const MAX_WINDOW_DAYS: i64 = 90;

/// `hold=campaign`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Hold {
    Campaign,
}

/// `by=group`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FunnelBy {
    Group,
}

/// Funnel parameters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FunnelParams {
    /// Ordered steps: `type[key=value;...],type,...` (2-10). Filters:
    /// `campaign_id`, `campaign_code`, `campaign=any`, `group_id`, `properties.<name>`.
    #[param(example = "link_clicked[campaign=any],order_placed,order_paid", schema_with = steps_schema)]
    pub steps: Option<String>,
    /// A built-in funnel instead of `steps`: `onboarding` (default) or `purchase`.
    pub funnel: Option<Preset>,
    /// Conversion window from step 1: `<n>d`, `<n>h` or `<n>m`, at most 90 days (default `7d`).
    #[param(schema_with = window_schema)]
    pub window: Option<String>,
    /// `campaign`: every step names step 1's campaign.
    pub hold: Option<Hold>,
    /// `group`: one row per group of step 1.
    #[param(inline)]
    pub by: Option<FunnelBy>,
}

impl params::Params for FunnelParams {
    const KEYS: &'static [&'static str] = &["steps", "funnel", "window", "hold", "by"];
}

/// A conversion funnel.
#[derive(Debug, Serialize, ToSchema)]
pub struct FunnelReport {
    pub timezone: String,
    /// Step 1 happened on a local day of `[from, to]`.
    #[schema(value_type = String)]
    pub from: NaiveDate,
    #[schema(value_type = String)]
    pub to: NaiveDate,
    /// The built-in funnel used, if any.
    pub funnel: Option<Preset>,
    pub window_seconds: i64,
    pub hold: Option<Hold>,
    pub steps: Vec<StepFigures>,
    /// `last step / step 1`.
    pub conversion: Option<f64>,
    /// With `by=group`: per group of step 1, most step-1 members first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<GroupRow>>,
    /// Some attempt's window has not closed yet: counts may still grow.
    pub incomplete: bool,
}

/// `7d`, `12h`, `30m`.
/// The pattern of `funnel::parse_steps`.
fn steps_schema() -> utoipa::openapi::schema::Object {
    crate::validate::schema::matching(&crate::metrics::reports::funnel::steps_pattern(), false)
}

/// The pattern of [`parse_window`].
fn window_schema() -> utoipa::openapi::schema::Object {
    use crate::validate::schema::int_range;
    let d = MAX_WINDOW_DAYS as u64;
    let pattern =
        format!("^0*({})d$|^0*({})h$|^0*({})m$", int_range(1, d), int_range(1, d * 24), int_range(1, d * 24 * 60));
    crate::validate::schema::matching(&pattern, false)
}

fn parse_window(s: &str) -> Option<Duration> {
    let (i, unit) = s.char_indices().last()?;
    let digits = &s[..i];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i64 = digits.parse().ok().filter(|n| *n > 0)?;
    let d = match unit {
        'd' => Duration::days(n.min(MAX_WINDOW_DAYS + 1)),
        'h' => Duration::hours(n.min(24 * (MAX_WINDOW_DAYS + 1))),
        'm' => Duration::minutes(n.min(24 * 60 * (MAX_WINDOW_DAYS + 1))),
        _ => return None,
    };
    (d <= Duration::days(MAX_WINDOW_DAYS)).then_some(d)
}

/// Members per step, step and overall rates, median time between steps.
#[utoipa::path(get, path = "/metrics/funnel", tag = "metrics", params(Common, FunnelParams),
    responses((status = 200, body = FunnelReport, description = "JSON, or CSV with `format=csv`"),
        (status = 422, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn get_funnel(
    State(state): State<AppState>,
    auth: Auth,
    MetricQuery(q, p): MetricQuery<FunnelParams>,
) -> ApiResult<Response> {
    let (preset, mut steps) = p.steps_asked()?;
    let window = p.window()?;
    let now = state.clock.now();
    let mut tx = snapshot(&state.pool).await?;
    let mut c = params::resolve(&mut tx, auth.workspace_id, &q, now).await?;
    // A campaign scope means funnels starting with that campaign, in any group.
    if let Some(campaign) = c.scope.campaign {
        c.scope.groups = None;
        steps[0].filter.campaign_id = Some(campaign);
    }
    let (lo, hi) = c.bounds();
    let end: DateTime<Utc> = hi + window;
    let events = read_events(&state.pool, &mut tx, &c, &steps, (lo, hi, end)).await?;
    let m = funnel::compute(&funnel::Input {
        steps: &steps,
        window,
        lo,
        hi,
        hold_campaign: p.hold.is_some(),
        by_group: p.by.is_some(),
        events: &events,
    });
    let report = FunnelReport {
        timezone: c.tz_name.clone(),
        from: c.from,
        to: c.to,
        funnel: preset,
        window_seconds: window.num_seconds(),
        hold: p.hold,
        steps: m.total.steps,
        conversion: m.total.conversion,
        groups: p.by.map(|_| m.groups),
        incomplete: end > now,
    };
    Ok(respond(c.format, report, "funnel", funnel_csv))
}

impl FunnelParams {
    /// The preset (if one was asked for, or none was given) and its steps.
    fn steps_asked(&self) -> ApiResult<(Option<Preset>, Vec<Step>)> {
        match (&self.steps, self.funnel) {
            (Some(_), Some(_)) => Err(ApiError::field("funnel", "conflict", "give `steps` or `funnel`, not both")),
            (Some(s), None) => Ok((None, funnel::parse_steps(s).map_err(|e| ApiError::field("steps", "invalid", e))?)),
            (None, f) => {
                let f = f.unwrap_or_default();
                Ok((Some(f), f.steps()))
            }
        }
    }

    /// The conversion window (7 days unless given).
    fn window(&self) -> ApiResult<Duration> {
        match &self.window {
            None => Ok(Duration::days(7)),
            Some(w) => parse_window(w).ok_or_else(|| {
                ApiError::field(
                    "window",
                    "invalid",
                    format!("`<n>d`, `<n>h` or `<n>m`, at most {MAX_WINDOW_DAYS} days"),
                )
            }),
        }
    }
}

/// The events of the steps' types whose step 1 falls in `[lo, hi)`, up to
/// `end`: from the packed timelines where they serve, else from the rows.
async fn read_events(
    pool: &PgPool,
    tx: &mut PgConnection,
    c: &Ctx,
    steps: &[Step],
    (lo, hi, end): (DateTime<Utc>, DateTime<Utc>, DateTime<Utc>),
) -> Result<Vec<Event>, sqlx::Error> {
    let mut types: Vec<String> = steps.iter().map(|s| s.kind.clone()).collect();
    types.sort();
    types.dedup();
    if funnel::serves(c.rollup_days, steps) {
        timelines::funnel_events(pool, tx, c, &steps[0].kind, &types, lo, end).await
    } else {
        let properties = steps.iter().any(|s| !s.filter.properties.is_empty());
        repo::funnel_events(tx, c, &steps[0].kind, &types, lo, hi, end, properties).await
    }
}

fn step_name(s: &Step) -> String {
    let f = serde_json::to_value(&s.filter).map(|v| v.to_string()).unwrap_or_default();
    if f == "{}" {
        s.kind.clone()
    } else {
        format!("{} {f}", s.kind)
    }
}

fn funnel_csv(r: &FunnelReport) -> Table {
    let mut t = Table::new(&[
        "group_id",
        "step",
        "type",
        "count",
        "rate_from_previous",
        "rate_overall",
        "median_seconds_from_previous",
    ]);
    let mut push = |group: String, steps: &[StepFigures]| {
        for (i, s) in steps.iter().enumerate() {
            t.push(vec![
                group.clone(),
                (i + 1).to_string(),
                step_name(&s.step),
                s.count.to_string(),
                cell(s.rate_from_previous),
                cell(s.rate_overall),
                cell(s.median_seconds_from_previous),
            ]);
        }
    };
    push("all".into(), &r.steps);
    for g in r.groups.iter().flatten() {
        push(g.group_id.map_or_else(|| "none".into(), |g| g.to_string()), &g.figures.steps);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_bounded() {
        assert_eq!(parse_window("7d"), Some(Duration::days(7)));
        assert_eq!(parse_window("36h"), Some(Duration::hours(36)));
        assert_eq!(parse_window("90d"), Some(Duration::days(90)));
        for bad in ["", "d", "0d", "-1d", "91d", "7w", "99999999999999999999d", "１d", "7日", "+7d"] {
            assert_eq!(parse_window(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_window_pattern_accepts_what_the_parser_does() {
        let pattern = window_schema().pattern.unwrap();
        let re = regex::Regex::new(&pattern).unwrap();
        let mut inputs: Vec<String> =
            ["", "d", "-1d", "7w", "１d", "+7d", "007d", "00h", "7dd", "d7"].map(String::from).into();
        for n in (0..3000).chain([129_599, 129_600, 129_601]) {
            inputs.extend(["d", "h", "m"].map(|u| format!("{n}{u}")));
        }
        for s in inputs {
            assert_eq!(re.is_match(&s), parse_window(&s).is_some(), "{s:?}");
        }
    }
}
