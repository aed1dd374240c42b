//! `GET /v1/campaigns/{id}/check-ins/stats`: per check-in day, who checked
//! in (and for the first time), makeups and points; the streaks members
//! were on at the end of the period; and the share of the target groups'
//! members who checked in.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{Duration, NaiveDate};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::model::check_in_day;
use super::repo;
use crate::campaigns::settings::CheckInSettings;
use crate::error::{ApiError, ApiResult, ErrorEnvelope};
use crate::http::csv::Format;
use crate::http::csv::Table;
use crate::http::extract::{ApiPath, ApiQuery};
use crate::ids::CampaignId;
use crate::keys::auth::Auth;
use crate::state::AppState;

/// Stats parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// First check-in day (inclusive, 1970-2999); default 29 days before
    /// `to`. Not after `to`, and at most 366 days before it.
    #[param(value_type = Option<String>, format = Date, pattern = "^(19[7-9][0-9]|2[0-9]{3})-[0-9]{2}-[0-9]{2}$")]
    pub from: Option<NaiveDate>,
    /// Last check-in day (inclusive, 1970-2999); default today's check-in day.
    #[param(value_type = Option<String>, format = Date, pattern = "^(19[7-9][0-9]|2[0-9]{3})-[0-9]{2}-[0-9]{2}$")]
    pub to: Option<NaiveDate>,
    /// `json` (default) or `csv` (the days).
    #[param(inline)]
    pub format: Option<Format>,
}

/// One check-in day.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StatsDay {
    pub day: NaiveDate,
    /// Members who checked in that day.
    pub participants: i64,
    /// Of them, those checking in to this campaign for the first time.
    pub first_time: i64,
    /// Days filled by makeups.
    pub makeups: i64,
    pub points_awarded: i64,
}

/// Members by the streak they were on at the end of the period.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StreakBucket {
    /// Smallest streak of the bucket (0: the streak was broken by `to`).
    pub min: i32,
    /// Largest streak of the bucket (null: no upper bound).
    pub max: Option<i32>,
    pub members: i64,
}

/// The stats.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CheckInStats {
    pub campaign_id: CampaignId,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Every day of the period, in order (zeros where nobody checked in).
    pub days: Vec<StatsDay>,
    /// Members who checked in at least once in the period.
    pub members: i64,
    pub check_ins: i64,
    pub points_awarded: i64,
    pub streaks: Vec<StreakBucket>,
    /// Members (not staff or bots) now in the campaign's target groups.
    pub target_members: i64,
    /// Of them, those who checked in in the period.
    pub target_members_checked_in: i64,
    /// `target_members_checked_in / target_members` (null without target members).
    pub participation_rate: Option<f64>,
}

const BUCKETS: [(i32, Option<i32>); 7] =
    [(0, Some(0)), (1, Some(1)), (2, Some(3)), (4, Some(6)), (7, Some(13)), (14, Some(29)), (30, None)];

/// Check-in stats of a campaign (JSON, or the days as CSV with `format=csv`).
#[utoipa::path(get, path = "/campaigns/{id}/check-ins/stats", tag = "check-ins",
    params(("id" = CampaignId, Path), StatsQuery),
    responses((status = 200, body = CheckInStats, description = "JSON, or CSV with `format=csv`"),
        (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn get_check_in_stats(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<CampaignId>,
    ApiQuery(q): ApiQuery<StatsQuery>,
) -> ApiResult<Response> {
    let ws = auth.workspace_id;
    let mut tx = crate::db::read_snapshot(&state.pool).await?;
    let c = crate::campaigns::repo::get(&mut tx, ws, id, false).await?.ok_or(ApiError::NotFound("campaign"))?;
    let settings = CheckInSettings::from_stored(&c.settings);
    let policy = crate::points::service::policy(&mut tx, ws).await?.ok_or(ApiError::NotFound("workspace"))?;
    let to = q.to.unwrap_or_else(|| check_in_day(policy.tz, settings.day_start(), state.clock.now()));
    let from = q.from.unwrap_or(to - Duration::days(29));
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
    let figures = repo::day_figures(&mut tx, ws, id, from, to).await?;
    let last = repo::last_streaks(&mut tx, ws, id, from, to).await?;
    let groups = crate::campaigns::target_groups(&mut tx, ws, &c).await?;
    let present = crate::memberships::repo::current_members(&mut tx, ws, &groups).await?;
    let people = crate::members::repo::people(&mut tx, ws, &present).await?;
    let target = people.len() as i64;
    let reached = repo::checked_in_among(&mut tx, ws, id, &people, from, to).await?;
    tx.commit().await?;
    let days: Vec<StatsDay> = from
        .iter_days()
        .take_while(|d| *d <= to)
        .map(|d| {
            let f = figures.iter().find(|f| f.0 == d).copied().unwrap_or((d, 0, 0, 0, 0));
            StatsDay { day: d, participants: f.1, first_time: f.4, makeups: f.2, points_awarded: f.3 }
        })
        .collect();
    let current = |day: NaiveDate, streak: i32| if day >= to - Duration::days(1) { streak } else { 0 };
    let streaks = BUCKETS
        .iter()
        .map(|(min, max)| StreakBucket {
            min: *min,
            max: *max,
            members: last
                .iter()
                .filter(|(_, d, s)| {
                    let s = current(*d, *s);
                    s >= *min && max.is_none_or(|m| s <= m)
                })
                .count() as i64,
        })
        .collect();
    let stats = CheckInStats {
        campaign_id: id,
        from,
        to,
        members: last.len() as i64,
        check_ins: days.iter().map(|d| d.participants).sum(),
        points_awarded: days.iter().map(|d| d.points_awarded).sum(),
        days,
        streaks,
        target_members: target,
        target_members_checked_in: reached,
        participation_rate: (target > 0).then(|| reached as f64 / target as f64),
    };
    if q.format == Some(Format::Csv) {
        let mut t = Table::new(&["day", "participants", "first_time", "makeups", "points_awarded"]);
        for d in &stats.days {
            t.push(vec![
                d.day.to_string(),
                d.participants.to_string(),
                d.first_time.to_string(),
                d.makeups.to_string(),
                d.points_awarded.to_string(),
            ]);
        }
        return Ok(t.response("check-in-stats"));
    }
    Ok(Json(stats).into_response())
}
