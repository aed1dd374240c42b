//! `/v1/campaigns/{id}/check-ins` and `/v1/members/{id}/check-ins`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{Datelike, Duration, NaiveDate};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::model::{
    check_in_day, parse_month, Calendar, CalendarDay, CalendarQuery, CheckIn, CheckInChannel, CheckInQuery,
    CheckInResult, CreateCheckIn,
};
use super::repo;
use super::service::{Refusal, Request};
use super::writer::{Answer, Ask, Writers};
use crate::campaigns::settings::CheckInSettings;
use crate::error::{on_constraint, ApiError, ApiResult, ErrorEnvelope};
use crate::events::model::EventSource;
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::http::pagination::{Page, PageParams};
use crate::ids::{CampaignId, MemberId};
use crate::keys::auth::Auth;
use crate::keys::model::Role;
use crate::state::AppState;

/// Routes of this feature.
pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AppState: axum::extract::FromRef<S>,
    Writers: axum::extract::FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list_check_ins, create_check_in))
        .routes(routes!(get_member_check_in_calendar))
        .routes(routes!(super::stats::get_check_in_stats))
}

fn map_err(e: sqlx::Error) -> ApiError {
    on_constraint(e, |c| (c == "check_in_members_member_fkey").then(unknown_member))
}

/// The answer to a refused check-in.
pub fn refusal(r: Refusal) -> ApiError {
    match r {
        Refusal::NotCheckIn => ApiError::conflict("not_a_check_in_campaign", "this campaign is not of kind check_in"),
        Refusal::NotRunning => ApiError::conflict("campaign_not_running", "the campaign is not running at that time"),
        Refusal::UnknownGroup => ApiError::unknown("group_id", "no such group in this workspace"),
        Refusal::NotInTarget => ApiError::conflict("not_in_target", "the campaign does not run in this group"),
        Refusal::Already(first) => ApiError::conflict_with(
            "already_checked_in",
            format!("the member already checked in on {}", first.day),
            "check_in",
            first,
        ),
        Refusal::MakeupNotAllowed(why) => ApiError::conflict("makeup_not_allowed", why),
        Refusal::Insufficient(i, n) => crate::points::insufficient(i, n),
    }
}

/// Check a member in (or, with `makeup`, fill a missed day). One check-in
/// per member and check-in day, however many requests race: the others get
/// 409 `already_checked_in` carrying the first as `check_in`.
#[utoipa::path(post, path = "/campaigns/{id}/check-ins", tag = "check-ins", params(("id" = CampaignId, Path)),
    request_body = CreateCheckIn,
    responses((status = 201, body = CheckInResult), (status = 404, body = ErrorEnvelope),
        (status = 409, body = ErrorEnvelope, description = "`already_checked_in` (with `check_in`), \
            `campaign_not_running`, `not_a_check_in_campaign`, `not_in_target`, `makeup_not_allowed`, \
            `insufficient_points` (with `balance`)"),
        (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn create_check_in(
    State(state): State<AppState>,
    State(writers): State<Writers>,
    auth: Auth,
    ApiPath(id): ApiPath<CampaignId>,
    ApiJson(body): ApiJson<CreateCheckIn>,
) -> ApiResult<(StatusCode, Json<CheckInResult>)> {
    auth.require(Role::Operator)?;
    let now = state.clock.now();
    body.validate(now)?;
    let req = Request {
        member: body.member_id,
        group: body.group_id,
        at: body.at.unwrap_or(now),
        makeup_day: body.day.filter(|_| body.makeup),
        channel: CheckInChannel::Api,
        source: EventSource::Api,
    };
    // Group-committed with concurrent check-ins (see `writer`).
    let ask = Ask { ws: auth.workspace_id, campaign: id, req, now };
    match writers.check_in(ask).await.map_err(map_err)? {
        Answer::Done(done) => Ok((StatusCode::CREATED, Json(*done))),
        Answer::Refused(r) => Err(refusal(r)),
        Answer::NoCampaign => Err(ApiError::NotFound("campaign")),
        Answer::UnknownMember => Err(unknown_member()),
    }
}

fn unknown_member() -> ApiError {
    ApiError::unknown("member_id", "no such member in this workspace")
}

/// A campaign's check-ins, newest first.
#[utoipa::path(get, path = "/campaigns/{id}/check-ins", tag = "check-ins", params(("id" = CampaignId, Path), CheckInQuery),
    responses((status = 200, body = Page<CheckIn>), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn list_check_ins(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<CampaignId>,
    ApiQuery(q): ApiQuery<CheckInQuery>,
) -> ApiResult<Json<Page<CheckIn>>> {
    let page = PageParams::parse(q.limit, q.cursor.as_deref())?;
    let mut conn = state.pool.acquire().await?;
    crate::campaigns::repo::get(&mut conn, auth.workspace_id, id, false)
        .await?
        .ok_or(ApiError::NotFound("campaign"))?;
    let f = repo::Filter { member: q.member_id, from: q.from, to: q.to };
    let rows = repo::list(&mut conn, auth.workspace_id, id, &f, page.after, page.fetch_limit()).await?;
    Ok(Json(Page::from_rows(rows, page, |c| c.id)))
}

/// A member's check-in calendar for one month.
#[utoipa::path(get, path = "/members/{id}/check-ins", tag = "check-ins", params(("id" = MemberId, Path), CalendarQuery),
    responses((status = 200, body = Calendar), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn get_member_check_in_calendar(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<MemberId>,
    ApiQuery(q): ApiQuery<CalendarQuery>,
) -> ApiResult<Json<Calendar>> {
    let ws = auth.workspace_id;
    let first = match q.month.as_deref() {
        Some(m) => Some(parse_month(m).ok_or_else(|| ApiError::field("month", "invalid", "must be YYYY-MM"))?),
        None => None,
    };
    let mut tx = crate::db::read_snapshot(&state.pool).await?;
    crate::points::require_member(&mut tx, ws, id).await?;
    let campaign_id = match q.campaign_id {
        Some(c) => Some(c),
        None => repo::latest_campaign(&mut tx, ws, id).await?,
    };
    let campaign = match campaign_id {
        Some(c) => {
            Some(crate::campaigns::repo::get(&mut tx, ws, c, false).await?.ok_or(ApiError::NotFound("campaign"))?)
        }
        None => None,
    };
    let settings = campaign.as_ref().map(|c| CheckInSettings::from_stored(&c.settings)).unwrap_or_default();
    let policy = crate::points::service::policy(&mut tx, ws).await?.ok_or(ApiError::NotFound("workspace"))?;
    let today = check_in_day(policy.tz, settings.day_start(), state.clock.now());
    let first = first.unwrap_or_else(|| today.with_day(1).unwrap_or(today));
    let last = next_month(first).pred_opt().unwrap_or(first);
    let (rows, totals) = match campaign_id {
        Some(c) => (repo::between(&mut tx, ws, c, id, first, last).await?, repo::totals(&mut tx, ws, c, id).await?),
        None => (vec![], None),
    };
    tx.commit().await?;
    let days = first
        .iter_days()
        .take_while(|d| *d <= last)
        .map(|d| {
            let c = rows.iter().find(|c| c.day == d);
            CalendarDay {
                day: d,
                checked_in: c.is_some(),
                makeup: c.is_some_and(|c| c.makeup),
                streak: c.map(|c| c.streak),
                points_awarded: c.map_or(0, |c| c.points_awarded),
            }
        })
        .collect();
    let (total_days, last_day, streak) = totals.unwrap_or((0, None, None));
    let current = last_day.filter(|d| *d >= today - Duration::days(1)).and(streak).unwrap_or(0);
    Ok(Json(Calendar {
        member_id: id,
        campaign_id,
        month: first.format("%Y-%m").to_string(),
        days,
        total_days,
        current_streak: current,
        makeups: rows.iter().filter(|c| c.makeup).count() as i64,
    }))
}

fn next_month(first: NaiveDate) -> NaiveDate {
    let (y, m) = if first.month() == 12 { (first.year() + 1, 1) } else { (first.year(), first.month() + 1) };
    NaiveDate::from_ymd_opt(y, m, 1).unwrap_or(first)
}
