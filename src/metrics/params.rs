//! The query parameters every metric shares (period, timezone, scope, staff,
//! format) and their resolution into a [`Ctx`]. Parameters are parsed
//! strictly: an unknown one is refused, naming it.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use chrono::{Duration, NaiveDate};
use chrono_tz::Tz;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use sqlx::PgConnection;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::error::{ApiError, ApiResult, FieldError};
use crate::groups::repo::GroupFilter;
use crate::http::extract::parse_query;
use crate::ids::{CampaignId, GroupId, LayerId, WorkspaceId};
use crate::memberships::model::JoinSource;
use crate::metrics::period;

/// Longest period one request may cover.
pub const MAX_DAYS: i64 = 366;

use crate::http::csv::Format;

/// Parameters shared by every metric.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Common {
    /// First local date (`YYYY-MM-DD`, inclusive, 1970-2999); default 29 days
    /// before `to`. Not after `to`, and at most 366 days before it.
    #[param(value_type = Option<String>, format = Date, pattern = "^(19[7-9][0-9]|2[0-9]{3})-[0-9]{2}-[0-9]{2}$",
        example = "2026-10-01")]
    pub from: Option<NaiveDate>,
    /// Last local date (inclusive, 1970-2999); default today.
    #[param(value_type = Option<String>, format = Date, pattern = "^(19[7-9][0-9]|2[0-9]{3})-[0-9]{2}-[0-9]{2}$",
        example = "2026-10-31")]
    pub to: Option<NaiveDate>,
    /// IANA timezone of day boundaries; default the workspace's.
    #[param(value_type = Option<crate::validate::schema::Timezone>)]
    pub tz: Option<String>,
    /// Scope: one group. The scope parameters combine: each one given
    /// narrows the groups (`tier=vip&layer_id=..` is the layer's VIP groups).
    pub group_id: Option<GroupId>,
    /// Scope: the groups of a layer (as it selects them now).
    pub layer_id: Option<LayerId>,
    /// Scope: the groups of a value tier (by key).
    pub tier: Option<String>,
    /// Scope: a campaign (its groups for member metrics; its attributed orders for commerce).
    pub campaign_id: Option<CampaignId>,
    /// Scope: members who joined a group of the scope through this channel.
    pub source: Option<JoinSource>,
    /// Count staff and bot members too (default false).
    pub include_staff: Option<bool>,
    /// `json` (default) or `csv`.
    #[param(inline)]
    pub format: Option<Format>,
}

/// [`Common`] as a score publishes it: without `from` (a score reads a fixed
/// window ending `to`; `from` is refused as `not_applicable`).
pub struct ScoreCommon;

impl utoipa::IntoParams for ScoreCommon {
    fn into_params(
        parameter_in: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        Common::into_params(parameter_in).into_iter().filter(|p| p.name != "from").collect()
    }
}

const COMMON_KEYS: &[&str] =
    &["from", "to", "tz", "group_id", "layer_id", "tier", "campaign_id", "source", "include_staff", "format"];

/// A metric's own parameters.
pub trait Params: DeserializeOwned {
    /// The parameter names it reads.
    const KEYS: &'static [&'static str];
}

/// No parameters beyond the common ones.
#[derive(Debug, Default, Deserialize)]
pub struct NoParams {}

impl Params for NoParams {
    const KEYS: &'static [&'static str] = &[];
}

/// Common and metric-specific parameters, unknown names refused.
#[derive(Debug)]
pub struct MetricQuery<T>(pub Common, pub T);

impl<T: Params, S: Send + Sync> FromRequestParts<S> for MetricQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let q = parts.uri.query().unwrap_or("");
        for (k, _) in form_urlencoded::parse(q.as_bytes()) {
            if !COMMON_KEYS.contains(&k.as_ref()) && !T::KEYS.contains(&k.as_ref()) {
                return Err(ApiError::Validation(vec![FieldError::new(
                    k.as_ref(),
                    "unknown_parameter",
                    format!("unknown parameter `{k}`"),
                )]));
            }
        }
        Ok(MetricQuery(parse_query(q)?, parse_query(q)?))
    }
}

/// Which members and groups a metric covers.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// The groups (None: every group, and events naming no group).
    pub groups: Option<Vec<Uuid>>,
    /// Only members with a stint (in the scope's groups) that joined through this channel.
    pub source: Option<JoinSource>,
    /// The campaign asked for, if any.
    pub campaign: Option<Uuid>,
}

/// Everything a metric computation needs to know about the request.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub ws: WorkspaceId,
    pub tz: Tz,
    pub tz_name: String,
    /// True when `tz` is the workspace's, so local-day rollups apply.
    pub rollup_days: bool,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Today in `tz`: this day and later ones are incomplete.
    pub today: NaiveDate,
    pub currency: String,
    pub week_start: crate::workspaces::model::WeekStart,
    pub active_types: Vec<String>,
    pub include_staff: bool,
    pub scope: Scope,
    pub format: Format,
}

impl Ctx {
    /// Number of days in `[from, to]`.
    pub fn days(&self) -> usize {
        ((self.to - self.from).num_days() + 1) as usize
    }

    /// The instant local day `d` starts.
    pub fn start(&self, d: NaiveDate) -> chrono::DateTime<chrono::Utc> {
        period::day_start(self.tz, d)
    }

    /// The instants the period starts and ends (`[start(from), start(to + 1))`).
    pub fn bounds(&self) -> (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>) {
        (self.start(self.from), self.start(self.to + Duration::days(1)))
    }
}

/// Validates the common parameters and resolves the scope.
pub async fn resolve(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    q: &Common,
    now: chrono::DateTime<chrono::Utc>,
) -> ApiResult<Ctx> {
    let w = crate::workspaces::repo::get(conn, ws).await?.ok_or(ApiError::NotFound("workspace"))?;
    let (tz_name, tz) = match &q.tz {
        None => (w.timezone.clone(), crate::clock::zone(&w.timezone)),
        Some(name) => {
            let tz: Tz = name.parse().map_err(|_| ApiError::field("tz", "invalid", "not an IANA timezone name"))?;
            (name.clone(), tz)
        }
    };
    let today = period::local_day(tz, now);
    let (from, to) = period_of(q, today)?;
    Ok(Ctx {
        ws,
        rollup_days: tz == crate::clock::zone(&w.timezone),
        tz,
        tz_name,
        from,
        to,
        today,
        currency: w.currency,
        week_start: w.week_start,
        active_types: w.active_event_types,
        include_staff: q.include_staff.unwrap_or(false),
        scope: scope(conn, ws, q).await?,
        format: q.format.unwrap_or_default(),
    })
}

/// The whole workspace in its own timezone, staff included, for `[today - 29, today]`.
pub fn workspace_ctx(w: crate::workspaces::model::Workspace, now: chrono::DateTime<chrono::Utc>) -> Ctx {
    let tz = crate::clock::zone(&w.timezone);
    let today = period::local_day(tz, now);
    Ctx {
        ws: w.id,
        tz,
        tz_name: w.timezone,
        rollup_days: true,
        from: today - Duration::days(29),
        to: today,
        today,
        currency: w.currency,
        week_start: w.week_start,
        active_types: w.active_event_types,
        include_staff: true,
        scope: Scope::default(),
        format: Format::Json,
    }
}

/// The period asked for: `to` defaults to today, `from` to 29 days before
/// `to`; both in the years 1970-2999 (as the document's pattern says), at
/// most [`MAX_DAYS`] days.
fn period_of(q: &Common, today: NaiveDate) -> ApiResult<(NaiveDate, NaiveDate)> {
    let earliest = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or(NaiveDate::MIN);
    let latest = NaiveDate::from_ymd_opt(2999, 12, 31).unwrap_or(NaiveDate::MAX);
    for (field, d) in [("from", q.from), ("to", q.to)] {
        if d.is_some_and(|d| d < earliest || d > latest) {
            return Err(ApiError::field(field, "out_of_range", "dates must lie in the years 1970-2999"));
        }
    }
    let to = q.to.unwrap_or(today);
    let from = q.from.unwrap_or(to - Duration::days(29));
    if from > to {
        return Err(ApiError::field("from", "invalid", "must not be after `to`"));
    }
    if (to - from).num_days() >= MAX_DAYS {
        return Err(ApiError::field("to", "too_long", format!("at most {MAX_DAYS} days per request")));
    }
    Ok((from, to))
}

/// The groups of the scope: each of `group_id`, `layer_id`, `tier` and
/// `campaign_id` given narrows it (their intersection); none given is every
/// group. A record named that is not in the workspace answers 404.
async fn scope(conn: &mut PgConnection, ws: WorkspaceId, q: &Common) -> ApiResult<Scope> {
    let mut sets: Vec<Vec<Uuid>> = Vec::new();
    if let Some(g) = q.group_id {
        if !crate::groups::repo::exists(conn, ws, g).await? {
            return Err(ApiError::unknown("group_id", "no such group in this workspace"));
        }
        sets.push(vec![g.0]);
    }
    if let Some(l) = q.layer_id {
        let layer = crate::layers::repo::get(conn, ws, l)
            .await?
            .ok_or_else(|| ApiError::unknown("layer_id", "no such layer"))?;
        sets.push(group_ids(conn, ws, &layer.selector.to_filter()).await?);
    }
    if let Some(t) = &q.tier {
        if !crate::tiers::repo::key_exists(conn, ws, t).await? {
            return Err(ApiError::unknown("tier", "no such tier in this workspace"));
        }
        sets.push(group_ids(conn, ws, &GroupFilter { tiers: vec![t.clone()], ..Default::default() }).await?);
    }
    if let Some(c) = q.campaign_id {
        let campaign = crate::campaigns::repo::get(conn, ws, c, false)
            .await?
            .ok_or_else(|| ApiError::unknown("campaign_id", "no such campaign"))?;
        match campaign.target {
            Some(crate::campaigns::model::CampaignTarget { group_ids: Some(ids), .. }) => {
                sets.push(ids.iter().map(|g| g.0).collect())
            }
            Some(crate::campaigns::model::CampaignTarget { layer_id: Some(l), .. }) => {
                sets.push(match crate::layers::repo::get(conn, ws, l).await? {
                    Some(layer) => group_ids(conn, ws, &layer.selector.to_filter()).await?,
                    None => vec![],
                })
            }
            _ => {}
        }
    }
    let groups = sets.into_iter().reduce(|mut acc, set| {
        let set: std::collections::HashSet<Uuid> = set.into_iter().collect();
        acc.retain(|g| set.contains(g));
        acc
    });
    Ok(Scope { groups, source: q.source, campaign: q.campaign_id.map(|c| c.0) })
}

/// Every group a filter selects.
async fn group_ids(conn: &mut PgConnection, ws: WorkspaceId, f: &GroupFilter) -> Result<Vec<Uuid>, sqlx::Error> {
    Ok(crate::groups::repo::schedule_targets(conn, ws, f).await?.into_iter().map(|t| t.id.0).collect())
}
