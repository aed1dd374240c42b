//! `/v1/group-buys` and `/v1/group-buy-teams`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use sqlx::types::Json as Stored;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::model::{CreateGroupBuy, GroupBuy, JoinTeam, Status, Team, TeamStatus, Update};
use super::repo::{self, Row, TeamFilter};
use super::service::{self, Ask, Outcome, Refusal};
use crate::audit::{self, Actor};
use crate::campaigns::model::CampaignKind;
use crate::error::{ApiError, ApiResult, ErrorEnvelope};
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
{
    OpenApiRouter::new()
        .routes(routes!(list_group_buys, create_group_buy))
        .routes(routes!(get_group_buy, update_group_buy))
        .routes(routes!(open_team, list_group_buy_teams))
        .routes(routes!(quick_join))
        .routes(routes!(super::stats::get_group_buy_stats))
        .routes(routes!(list_teams))
        .routes(routes!(get_team))
        .routes(routes!(join_team))
}

fn refusal(r: Refusal, order: &str) -> ApiError {
    match r {
        Refusal::NotActive => ApiError::conflict("not_active", "the group-buy is paused or archived"),
        Refusal::CampaignNotRunning => ApiError::conflict("campaign_not_running", "the campaign is not running"),
        Refusal::NotEligible => ApiError::conflict("not_eligible", "the member may not take part in this group-buy"),
        Refusal::StaffOrBot => ApiError::conflict("staff_or_bot", "staff and bots do not buy in teams"),
        Refusal::NotNew => ApiError::conflict("not_new", "only members new to the workspace may join a team"),
        Refusal::LimitReached => {
            ApiError::conflict("limit_reached", "the member is in as many teams of this group-buy as a member may be")
        }
        Refusal::MaxTeams => ApiError::conflict("max_teams_reached", "the group-buy has opened all its teams"),
        Refusal::TeamFull => {
            ApiError::conflict_with("team_full", "the team is full: refund the order", "refund_order_id", order)
        }
        Refusal::TeamClosed => ApiError::conflict_with(
            "team_closed",
            "the team failed or its time is up: refund the order",
            "refund_order_id",
            order,
        ),
        Refusal::AlreadyInTeam => ApiError::conflict("already_in_team", "the member is in this team already"),
        Refusal::OrderInUse => {
            ApiError::conflict("order_in_use", "the order already holds another place in this group-buy")
        }
    }
}

fn answer(o: Outcome, order: &str, what: &'static str) -> ApiResult<(StatusCode, Json<Team>)> {
    match o {
        Outcome::NotFound => Err(ApiError::NotFound(what)),
        Outcome::UnknownMember => Err(ApiError::unknown("member_id", "no such member in this workspace")),
        Outcome::Done(t) | Outcome::Again(t) => Ok((StatusCode::CREATED, Json(t))),
        Outcome::Refused(r) => Err(refusal(r, order)),
    }
}

fn ask<'a>(state: &AppState, body: &'a JoinTeam) -> Ask<'a> {
    Ask { member: body.member_id, order: &body.order_id, group: body.group_id, now: state.clock.now() }
}

fn check_join(body: &JoinTeam) -> ApiResult<()> {
    let mut c = crate::validate::Checks::new();
    c.text("order_id", &body.order_id, 1, 128);
    c.finish()
}

async fn group_buy(state: &AppState, auth: &Auth, id: Uuid) -> ApiResult<Row> {
    let mut conn = state.pool.acquire().await?;
    repo::get(&mut conn, auth.workspace_id, id).await?.ok_or(ApiError::NotFound("group-buy"))
}

async fn check_group(state: &AppState, auth: &Auth, body: &JoinTeam) -> ApiResult<()> {
    if let Some(g) = body.group_id {
        let mut conn = state.pool.acquire().await?;
        if crate::groups::repo::get(&mut conn, auth.workspace_id, g).await?.is_none() {
            return Err(ApiError::unknown("group_id", "no such group"));
        }
    }
    Ok(())
}

/// Group-buy filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct GroupBuyQuery {
    pub campaign_id: Option<CampaignId>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    #[param(value_type = Option<uuid::Uuid>)]
    pub cursor: Option<String>,
}

/// Group-buys, newest first.
#[utoipa::path(get, path = "/group-buys", tag = "group-buys", params(GroupBuyQuery),
    responses((status = 200, body = Page<GroupBuy>), (status = 422, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn list_group_buys(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<GroupBuyQuery>,
) -> ApiResult<Json<Page<GroupBuy>>> {
    let page = PageParams::parse(q.limit, q.cursor.as_deref())?;
    let mut conn = state.pool.acquire().await?;
    let rows = repo::list(&mut conn, auth.workspace_id, q.campaign_id, page.after, page.fetch_limit()).await?;
    Ok(Json(Page::from_rows(rows.into_iter().map(GroupBuy::from).collect(), page, |g| g.id)))
}

/// One group-buy.
#[utoipa::path(get, path = "/group-buys/{id}", tag = "group-buys", params(("id" = Uuid, Path)),
    responses((status = 200, body = GroupBuy), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn get_group_buy(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<GroupBuy>> {
    Ok(Json(group_buy(&state, &auth, id).await?.into()))
}

/// Create a group-buy for a `group_buy` campaign (operator).
#[utoipa::path(post, path = "/group-buys", tag = "group-buys", request_body = CreateGroupBuy,
    responses((status = 201, body = GroupBuy), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope),
        (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn create_group_buy(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<CreateGroupBuy>,
) -> ApiResult<(StatusCode, Json<GroupBuy>)> {
    auth.require(Role::Operator)?;
    body.validate()?;
    let (ws, now) = (auth.workspace_id, state.clock.now());
    let mut tx = crate::db::begin(&state.pool).await?;
    let c = crate::campaigns::repo::get(&mut tx, ws, body.campaign_id, false)
        .await?
        .ok_or_else(|| ApiError::unknown("campaign_id", "no such campaign in this workspace"))?;
    if c.kind != CampaignKind::GroupBuy {
        return Err(ApiError::conflict("wrong_kind", "the campaign is not a group_buy campaign"));
    }
    let row = Row {
        id: Uuid::now_v7(),
        campaign_id: c.id.0,
        product_id: body.product_id.trim().to_owned(),
        name: body.name.map(|n| n.trim().to_owned()).unwrap_or(c.name),
        list_price: body.list_price,
        group_price: body.group_price,
        team_size: body.team_size,
        time_limit_hours: body.time_limit_hours.unwrap_or(24) as i32,
        max_teams: body.max_teams.map(|m| m as i32),
        per_member_limit: body.per_member_limit.unwrap_or(1) as i32,
        eligible: body.eligible.map(Stored),
        new_members_only_joiners: body.new_members_only_joiners,
        link: body.link,
        status: body.status.unwrap_or(Status::Active),
        teams_opened: 0,
        created_at: now,
        updated_at: now,
    };
    repo::insert(&mut tx, ws, &row).await?;
    audit::record(&mut tx, ws, Actor::from(&auth), "group_buy.create", "group_buy", row.id, serde_json::json!({}))
        .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(row.into())))
}

/// Rename a group-buy, pause, resume or archive it (operator). Paused and
/// archived group-buys open no team; open teams still fill or fail.
#[utoipa::path(patch, path = "/group-buys/{id}", tag = "group-buys", params(("id" = Uuid, Path)),
    request_body = Update,
    responses((status = 200, body = GroupBuy), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn update_group_buy(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<Update>,
) -> ApiResult<Json<GroupBuy>> {
    auth.require(Role::Operator)?;
    let mut c = crate::validate::Checks::new();
    c.opt_text("name", body.name.as_deref(), 200);
    if let Some(Some(u)) = &body.link {
        c.url("link", u);
    }
    c.finish()?;
    let (ws, now) = (auth.workspace_id, state.clock.now());
    let mut tx = crate::db::begin(&state.pool).await?;
    let name = body.name.as_deref().map(str::trim);
    let link = body.link.as_ref().map(|l| l.as_deref());
    if !repo::update(&mut tx, ws, id, name, body.status, link, now).await? {
        return Err(ApiError::NotFound("group-buy"));
    }
    audit::record(&mut tx, ws, Actor::from(&auth), "group_buy.update", "group_buy", id, serde_json::json!({})).await?;
    let g = repo::get(&mut tx, ws, id).await?.ok_or(ApiError::NotFound("group-buy"))?;
    tx.commit().await?;
    Ok(Json(g.into()))
}

/// Open a team with the member as its leader, on their order at the group
/// price (operator key: the shop calls it once the leader paid). The team
/// has `time_limit_hours` to fill. The same order again answers the same
/// team. 409 `not_active`, `campaign_not_running`, `not_eligible`,
/// `staff_or_bot`, `limit_reached`, `max_teams_reached`, `order_in_use`.
#[utoipa::path(post, path = "/group-buys/{id}/teams", tag = "group-buys", params(("id" = Uuid, Path)),
    request_body = JoinTeam,
    responses((status = 201, body = Team), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope),
        (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn open_team(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<JoinTeam>,
) -> ApiResult<(StatusCode, Json<Team>)> {
    auth.require(Role::Operator)?;
    check_join(&body)?;
    check_group(&state, &auth, &body).await?;
    let o = service::open(&state.pool, auth.workspace_id, id, ask(&state, &body)).await?;
    answer(o, &body.order_id, "group-buy")
}

/// Quick join: the member joins the open team closest to filling (one no
/// other join holds at this instant), or opens a team when none is open.
/// Answers as joining or opening.
#[utoipa::path(post, path = "/group-buys/{id}/join", tag = "group-buys", params(("id" = Uuid, Path)),
    request_body = JoinTeam,
    responses((status = 201, body = Team), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope),
        (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn quick_join(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<JoinTeam>,
) -> ApiResult<(StatusCode, Json<Team>)> {
    auth.require(Role::Operator)?;
    check_join(&body)?;
    check_group(&state, &auth, &body).await?;
    let o = service::quick_join(&state.pool, auth.workspace_id, id, ask(&state, &body)).await?;
    answer(o, &body.order_id, "group-buy")
}

/// Join a team on the member's order at the group price (operator key).
/// The join that fills the team makes it `succeeded` (and sends
/// `group_buy.succeeded` with every order). 409 `team_full` or
/// `team_closed` carry `refund_order_id`: refund that order at once; also
/// `already_in_team`, `order_in_use`, `limit_reached`, `not_eligible`,
/// `not_new`, `staff_or_bot`. The same order again answers the same.
#[utoipa::path(post, path = "/group-buy-teams/{id}/members", tag = "group-buys", params(("id" = Uuid, Path)),
    request_body = JoinTeam,
    responses((status = 201, body = Team), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope),
        (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn join_team(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<JoinTeam>,
) -> ApiResult<(StatusCode, Json<Team>)> {
    auth.require(Role::Operator)?;
    check_join(&body)?;
    let o = service::join(&state.pool, auth.workspace_id, id, ask(&state, &body)).await?;
    answer(o, &body.order_id, "team")
}

/// Team filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TeamQuery {
    pub group_buy_id: Option<Uuid>,
    pub status: Option<TeamStatus>,
    /// Teams this member is in.
    pub member_id: Option<MemberId>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    #[param(value_type = Option<uuid::Uuid>)]
    pub cursor: Option<String>,
}

/// A group-buy's team filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OwnTeamQuery {
    pub status: Option<TeamStatus>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    #[param(value_type = Option<uuid::Uuid>)]
    pub cursor: Option<String>,
}

async fn teams_page(state: &AppState, auth: &Auth, f: TeamFilter, page: PageParams) -> ApiResult<Json<Page<Team>>> {
    let mut conn = state.pool.acquire().await?;
    let rows = repo::list_teams(&mut conn, auth.workspace_id, &f, page.after, page.fetch_limit()).await?;
    let teams = repo::views(&mut conn, auth.workspace_id, rows).await?;
    Ok(Json(Page::from_rows(teams, page, |t| t.id)))
}

/// A group-buy's teams, newest first, each with its members.
#[utoipa::path(get, path = "/group-buys/{id}/teams", tag = "group-buys", params(("id" = Uuid, Path), OwnTeamQuery),
    responses((status = 200, body = Page<Team>), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn list_group_buy_teams(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<OwnTeamQuery>,
) -> ApiResult<Json<Page<Team>>> {
    let page = PageParams::parse(q.limit, q.cursor.as_deref())?;
    group_buy(&state, &auth, id).await?;
    teams_page(&state, &auth, TeamFilter { group_buy: Some(id), status: q.status, member: None }, page).await
}

/// Teams of every group-buy, newest first.
#[utoipa::path(get, path = "/group-buy-teams", tag = "group-buys", params(TeamQuery),
    responses((status = 200, body = Page<Team>), (status = 422, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn list_teams(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<TeamQuery>,
) -> ApiResult<Json<Page<Team>>> {
    let page = PageParams::parse(q.limit, q.cursor.as_deref())?;
    teams_page(&state, &auth, TeamFilter { group_buy: q.group_buy_id, status: q.status, member: q.member_id }, page)
        .await
}

/// One team with its members.
#[utoipa::path(get, path = "/group-buy-teams/{id}", tag = "group-buys", params(("id" = Uuid, Path)),
    responses((status = 200, body = Team), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn get_team(State(state): State<AppState>, auth: Auth, ApiPath(id): ApiPath<Uuid>) -> ApiResult<Json<Team>> {
    let mut conn = state.pool.acquire().await?;
    let t = repo::get_team(&mut conn, auth.workspace_id, id, false).await?.ok_or(ApiError::NotFound("team"))?;
    let mut v = repo::views(&mut conn, auth.workspace_id, vec![t]).await?;
    Ok(Json(v.pop().ok_or(ApiError::NotFound("team"))?))
}
