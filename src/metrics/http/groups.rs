//! `/v1/metrics/groups/health`, `/v1/metrics/groups/{id}/roles`,
//! `/v1/metrics/groups/{id}/leaderboard` and
//! `/v1/metrics/members/{id}/engagement`.

use std::collections::{HashMap, HashSet};

use axum::extract::State;
use axum::response::Response;
use chrono::{Duration, NaiveDate};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::error::{ApiError, ApiResult, ErrorEnvelope};
use crate::http::csv::Table;
use crate::http::extract::ApiPath;
use crate::ids::{GroupId, MemberId};
use crate::keys::auth::Auth;
use crate::metrics::http::reply::{pending, respond, snapshot};
use crate::metrics::params::{self, Common, Ctx, MetricQuery, ScoreCommon};
use crate::metrics::reports::engagement::{self, Engagement};
use crate::metrics::reports::roles::{self, RoleCounts, RoleMember};
use crate::metrics::store::repo;
use crate::state::AppState;

/// Without `to`, windows end yesterday (the last complete day); without
/// `from`, they last 30 days.
pub(crate) fn default_window(q: &Common, c: &mut Ctx) {
    if q.to.is_none() {
        c.to = c.today - Duration::days(1);
    }
    if q.from.is_none() {
        c.from = c.to - Duration::days(29);
    }
}

/// The group of a path, checked to exist in the workspace.
async fn group_scope(conn: &mut PgConnection, c: &mut Ctx, g: GroupId) -> ApiResult<()> {
    if !crate::groups::repo::exists(conn, c.ws, g).await? {
        return Err(ApiError::NotFound("group"));
    }
    c.scope.groups = Some(vec![g.0]);
    Ok(())
}

/// Display names of members.
async fn names(conn: &mut PgConnection, c: &Ctx, ids: &[Uuid]) -> Result<HashMap<Uuid, String>, sqlx::Error> {
    let ids: Vec<MemberId> = ids.iter().copied().map(MemberId).collect();
    let rows = crate::members::repo::display_names(conn, c.ws, &ids).await?;
    Ok(rows.into_iter().map(|(id, name)| (id.0, name)).collect())
}

/// List-size parameter.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LimitParams {
    /// Members per list (1-200, default 20).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

impl params::Params for LimitParams {
    const KEYS: &'static [&'static str] = &["limit"];
}

fn limit_of(p: &LimitParams) -> ApiResult<i64> {
    let limit = p.limit.unwrap_or(20);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::field("limit", "out_of_range", "must be 1-200"));
    }
    Ok(limit)
}

/// The people driving a group.
#[derive(Debug, Serialize, ToSchema)]
pub struct RolesReport {
    pub group_id: Uuid,
    pub timezone: String,
    #[schema(value_type = String)]
    pub from: NaiveDate,
    #[schema(value_type = String)]
    pub to: NaiveDate,
    pub counts: RoleCounts,
    /// The top 10% of senders by messages (at least one), with messages on ≥ 3 days; most messages first.
    pub core_creators: Vec<RoleMember>,
    /// Active on ≥ 3 days, not core creators; most active days first.
    pub active_followers: Vec<RoleMember>,
    /// Brought members in (invitees or invite events); most invitees first.
    pub sharers: Vec<RoleMember>,
    pub pending: bool,
}

/// Core creators, active followers, sharers and lurkers of a group.
#[utoipa::path(get, path = "/metrics/groups/{id}/roles", tag = "metrics",
    params(("id" = GroupId, Path), Common, LimitParams),
    responses((status = 200, body = RolesReport, description = "JSON, or CSV with `format=csv`"),
        (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn get_group_roles(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<GroupId>,
    MetricQuery(q, p): MetricQuery<LimitParams>,
) -> ApiResult<Response> {
    let limit = limit_of(&p)?;
    let mut tx = snapshot(&state.pool).await?;
    let mut c = params::resolve(&mut tx, auth.workspace_id, &q, state.clock.now()).await?;
    default_window(&q, &mut c);
    if c.from > c.to {
        return Err(ApiError::field("from", "invalid", "must not be after `to`"));
    }
    group_scope(&mut tx, &mut c, id).await?;
    let (lo, hi) = c.bounds();
    let rows = repo::members_in_group(&mut tx, &c, id.0, c.from, c.to).await?;
    let invitees: HashMap<Uuid, i64> = repo::inviters_in_group(&mut tx, &c, id.0, lo, hi).await?.into_iter().collect();
    let belonged: HashSet<Uuid> = repo::stints(&mut tx, &c).await?.into_iter().map(|s| s.member_id).collect();
    let mut roles = roles::classify(rows, &invitees, &belonged, limit as usize);
    let shown = names(&mut tx, &c, &roles.listed()).await?;
    roles.name(&shown);
    let report = RolesReport {
        group_id: id.0,
        timezone: c.tz_name.clone(),
        from: c.from,
        to: c.to,
        counts: roles.counts,
        core_creators: roles.core_creators,
        active_followers: roles.active_followers,
        sharers: roles.sharers,
        pending: pending(&mut tx, &c, 0).await?,
    };
    Ok(respond(c.format, report, "group-roles", roles_csv))
}

fn roles_csv(r: &RolesReport) -> Table {
    let mut t = Table::new(&[
        "role",
        "member_id",
        "display_name",
        "messages",
        "message_days",
        "active_days",
        "invitees",
        "invite_events",
    ]);
    for (role, list) in
        [("core_creator", &r.core_creators), ("active_follower", &r.active_followers), ("sharer", &r.sharers)]
    {
        for m in list {
            t.push(vec![
                role.to_owned(),
                m.member_id.to_string(),
                m.display_name.clone(),
                m.messages.to_string(),
                m.message_days.to_string(),
                m.active_days.to_string(),
                m.invitees.to_string(),
                m.invite_events.to_string(),
            ]);
        }
    }
    t
}

/// The 180 local days ending `to` (default today) that engagement reads;
/// `from` has no meaning for a score.
fn engagement_window(q: &Common, c: &mut Ctx) -> ApiResult<NaiveDate> {
    if q.from.is_some() {
        return Err(ApiError::field("from", "not_applicable", "engagement reads the 180 days ending `to`"));
    }
    c.from = engagement::first_day(c.to);
    Ok(c.from)
}

/// One leaderboard row.
#[derive(Debug, Serialize, ToSchema)]
pub struct LeaderboardRow {
    pub rank: i64,
    pub member_id: Uuid,
    pub display_name: String,
    pub score: f64,
    pub level: i64,
    /// Days active in the group in the 180 days.
    pub active_days: i64,
}

/// Most engaged members of a group.
#[derive(Debug, Serialize, ToSchema)]
pub struct Leaderboard {
    pub group_id: Uuid,
    pub timezone: String,
    /// The score is as of the end of this day.
    #[schema(value_type = String)]
    pub as_of: NaiveDate,
    /// Members with a score above 0.
    pub members: i64,
    pub items: Vec<LeaderboardRow>,
    pub pending: bool,
}

/// Members of a group by engagement score (their activity in that group).
#[utoipa::path(get, path = "/metrics/groups/{id}/leaderboard", tag = "metrics",
    params(("id" = GroupId, Path), ScoreCommon, LimitParams),
    responses((status = 200, body = Leaderboard, description = "JSON, or CSV with `format=csv`"),
        (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn get_group_leaderboard(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<GroupId>,
    MetricQuery(q, p): MetricQuery<LimitParams>,
) -> ApiResult<Response> {
    let limit = limit_of(&p)?;
    let mut tx = snapshot(&state.pool).await?;
    let mut c = params::resolve(&mut tx, auth.workspace_id, &q, state.clock.now()).await?;
    let lo = engagement_window(&q, &mut c)?;
    group_scope(&mut tx, &mut c, id).await?;
    let (rows, members) = repo::leaderboard(&mut tx, &c, id.0, lo, c.to, limit).await?;
    let shown = names(&mut tx, &c, &rows.iter().map(|r| r.0).collect::<Vec<_>>()).await?;
    let items = rows
        .into_iter()
        .enumerate()
        .map(|(i, (member_id, score, active_days))| LeaderboardRow {
            rank: i as i64 + 1,
            member_id,
            display_name: shown.get(&member_id).cloned().unwrap_or_default(),
            score,
            level: engagement::level(score),
            active_days,
        })
        .collect();
    let report = Leaderboard {
        group_id: id.0,
        timezone: c.tz_name.clone(),
        as_of: c.to,
        members,
        items,
        pending: pending(&mut tx, &c, 0).await?,
    };
    Ok(respond(c.format, report, "leaderboard", leaderboard_csv))
}

fn leaderboard_csv(r: &Leaderboard) -> Table {
    let mut t = Table::new(&["rank", "member_id", "display_name", "score", "level", "active_days"]);
    for x in &r.items {
        t.push(vec![
            x.rank.to_string(),
            x.member_id.to_string(),
            x.display_name.clone(),
            x.score.to_string(),
            x.level.to_string(),
            x.active_days.to_string(),
        ]);
    }
    t
}

/// A member's engagement report.
#[derive(Debug, Serialize, ToSchema)]
pub struct EngagementReport {
    pub member_id: Uuid,
    pub timezone: String,
    #[serde(flatten)]
    pub engagement: Engagement,
    pub pending: bool,
}

/// A member's engagement score and level with how they are made up.
#[utoipa::path(get, path = "/metrics/members/{id}/engagement", tag = "metrics",
    params(("id" = MemberId, Path), ScoreCommon),
    responses((status = 200, body = EngagementReport, description = "JSON, or CSV with `format=csv`"),
        (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn get_member_engagement(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<MemberId>,
    MetricQuery(q, _): MetricQuery<params::NoParams>,
) -> ApiResult<Response> {
    let mut tx = snapshot(&state.pool).await?;
    let mut c = params::resolve(&mut tx, auth.workspace_id, &q, state.clock.now()).await?;
    engagement_window(&q, &mut c)?;
    if crate::members::repo::get(&mut tx, c.ws, id).await?.is_none() {
        return Err(ApiError::NotFound("member"));
    }
    // A member's own score counts every group and their staff activity too.
    c.scope = params::Scope::default();
    c.include_staff = true;
    let engagement = engagement_of(&mut tx, &c, id).await?;
    let report = EngagementReport {
        member_id: id.0,
        timezone: c.tz_name.clone(),
        engagement,
        pending: pending(&mut tx, &c, 0).await?,
    };
    Ok(respond(c.format, report, "engagement", engagement_csv))
}

/// A member's engagement over every group, as of the end of `c.to`.
pub(super) async fn engagement_of(
    conn: &mut sqlx::PgConnection,
    c: &Ctx,
    member: MemberId,
) -> Result<Engagement, sqlx::Error> {
    let days = repo::member_day_counts(conn, c, member.0, engagement::first_day(c.to), c.to).await?;
    Ok(engagement::score(c.to, &days))
}

fn engagement_csv(r: &EngagementReport) -> Table {
    let mut t = Table::new(&["from", "to", "points", "weight"]);
    for s in &r.engagement.spans {
        t.push(vec![s.from.to_string(), s.to.to_string(), s.points.to_string(), s.weight.to_string()]);
    }
    t
}
