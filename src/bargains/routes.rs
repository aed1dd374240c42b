//! `/v1/bargains` and `/v1/bargain-sessions`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::model::{
    Bargain, BuyAt, CreateBargain, HelpDone, HelpIn, Purchase, Session, SessionStatus, StartSession, Status, Update,
};
use super::repo::{self, Row, SessionFilter};
use super::service::{self, Refusal};
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
        .routes(routes!(list_bargains, create_bargain))
        .routes(routes!(get_bargain, update_bargain))
        .routes(routes!(start_session, list_bargain_sessions))
        .routes(routes!(super::stats::get_bargain_stats))
        .routes(routes!(list_sessions))
        .routes(routes!(get_session))
        .routes(routes!(help_session))
        .routes(routes!(purchase_session))
}

fn refusal(r: Refusal) -> ApiError {
    match r {
        Refusal::NotActive => ApiError::conflict("not_active", "the bargain is paused or archived"),
        Refusal::CampaignNotRunning => ApiError::conflict("campaign_not_running", "the campaign is not running"),
        Refusal::StaffOrBot => ApiError::conflict("staff_or_bot", "staff and bots do not bargain or help"),
        Refusal::SelfHelp => ApiError::conflict("self_help", "a member cannot help their own bargain"),
        Refusal::NotNew => ApiError::conflict("not_new", "only members new to the workspace may help"),
        Refusal::AlreadyHelped(cut) => {
            ApiError::conflict_with("already_helped", "this helper helped this session already", "cut", cut)
        }
        Refusal::Complete => ApiError::conflict("session_complete", "the floor price is reached: no help is needed"),
        Refusal::Closed(SessionStatus::Expired) => ApiError::conflict("session_expired", "the session's time is up"),
        Refusal::Closed(_) => ApiError::conflict("session_closed", "the session was bought"),
        Refusal::FloorNotReached => {
            ApiError::conflict("floor_not_reached", "this bargain sells only at the floor price")
        }
        Refusal::AlreadyPurchased => ApiError::conflict("already_purchased", "the session was bought on another order"),
        Refusal::OrderInUse => ApiError::conflict("order_in_use", "the order bought another session of this bargain"),
        Refusal::NoSuchSession => ApiError::NotFound("session"),
    }
}

async fn bargain(state: &AppState, auth: &Auth, id: Uuid) -> ApiResult<Row> {
    let mut conn = state.pool.acquire().await?;
    repo::get(&mut conn, auth.workspace_id, id).await?.ok_or(ApiError::NotFound("bargain"))
}

/// Bargain filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BargainQuery {
    pub campaign_id: Option<CampaignId>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    #[param(value_type = Option<uuid::Uuid>)]
    pub cursor: Option<String>,
}

/// Bargains, newest first.
#[utoipa::path(get, path = "/bargains", tag = "bargains", params(BargainQuery),
    responses((status = 200, body = Page<Bargain>), (status = 422, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn list_bargains(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<BargainQuery>,
) -> ApiResult<Json<Page<Bargain>>> {
    let page = PageParams::parse(q.limit, q.cursor.as_deref())?;
    let mut conn = state.pool.acquire().await?;
    let rows = repo::list(&mut conn, auth.workspace_id, q.campaign_id, page.after, page.fetch_limit()).await?;
    Ok(Json(Page::from_rows(rows.into_iter().map(Bargain::from).collect(), page, |b| b.id)))
}

/// One bargain.
#[utoipa::path(get, path = "/bargains/{id}", tag = "bargains", params(("id" = Uuid, Path)),
    responses((status = 200, body = Bargain), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn get_bargain(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Bargain>> {
    Ok(Json(bargain(&state, &auth, id).await?.into()))
}

/// Create a bargain for a `bargain` campaign (operator).
#[utoipa::path(post, path = "/bargains", tag = "bargains", request_body = CreateBargain,
    responses((status = 201, body = Bargain), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope),
        (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn create_bargain(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<CreateBargain>,
) -> ApiResult<(StatusCode, Json<Bargain>)> {
    auth.require(Role::Operator)?;
    body.validate()?;
    let (ws, now) = (auth.workspace_id, state.clock.now());
    let mut tx = crate::db::begin(&state.pool).await?;
    let c = crate::campaigns::repo::get(&mut tx, ws, body.campaign_id, false)
        .await?
        .ok_or_else(|| ApiError::unknown("campaign_id", "no such campaign in this workspace"))?;
    if c.kind != CampaignKind::Bargain {
        return Err(ApiError::conflict("wrong_kind", "the campaign is not a bargain campaign"));
    }
    let row = Row {
        id: Uuid::now_v7(),
        campaign_id: c.id.0,
        product_id: body.product_id.trim().to_owned(),
        name: body.name.map(|n| n.trim().to_owned()).unwrap_or(c.name),
        list_price: body.list_price,
        floor_price: body.floor_price,
        helpers_needed: body.helpers_needed,
        time_limit_hours: body.time_limit_hours.unwrap_or(24) as i32,
        helpers_new_members_only: body.helpers_new_members_only,
        buy_at: body.buy_at.unwrap_or(BuyAt::Floor),
        link: body.link,
        status: body.status.unwrap_or(Status::Active),
        created_at: now,
        updated_at: now,
    };
    repo::insert(&mut tx, ws, &row).await?;
    audit::record(&mut tx, ws, Actor::from(&auth), "bargain.create", "bargain", row.id, serde_json::json!({})).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(row.into())))
}

/// Rename a bargain, pause, resume or archive it (operator). Paused and
/// archived bargains start no session; open ones go on.
#[utoipa::path(patch, path = "/bargains/{id}", tag = "bargains", params(("id" = Uuid, Path)), request_body = Update,
    responses((status = 200, body = Bargain), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn update_bargain(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<Update>,
) -> ApiResult<Json<Bargain>> {
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
        return Err(ApiError::NotFound("bargain"));
    }
    audit::record(&mut tx, ws, Actor::from(&auth), "bargain.update", "bargain", id, serde_json::json!({})).await?;
    let b = repo::get(&mut tx, ws, id).await?.ok_or(ApiError::NotFound("bargain"))?;
    tx.commit().await?;
    Ok(Json(b.into()))
}

/// Start the member's session at the list price (operator key: the shop
/// calls it when the member taps "bargain"). 201 with a new session; 200
/// with the member's session still open or completed (one per bargain).
/// 409 `not_active`, `campaign_not_running`, `staff_or_bot`.
#[utoipa::path(post, path = "/bargains/{id}/sessions", tag = "bargains", params(("id" = Uuid, Path)),
    request_body = StartSession,
    responses((status = 201, body = Session), (status = 200, body = Session), (status = 404, body = ErrorEnvelope),
        (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn start_session(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<StartSession>,
) -> ApiResult<(StatusCode, Json<Session>)> {
    auth.require(Role::Operator)?;
    let b = bargain(&state, &auth, id).await?;
    let ws = auth.workspace_id;
    if let Some(g) = body.group_id {
        let mut conn = state.pool.acquire().await?;
        if crate::groups::repo::get(&mut conn, ws, g).await?.is_none() {
            return Err(ApiError::unknown("group_id", "no such group"));
        }
    }
    match service::start(&state.pool, ws, &b, body.member_id, body.group_id, state.clock.now()).await? {
        None => Err(ApiError::unknown("member_id", "no such member in this workspace")),
        Some(Ok((true, s))) => Ok((StatusCode::CREATED, Json(s))),
        Some(Ok((false, s))) => Ok((StatusCode::OK, Json(s))),
        Some(Err(r)) => Err(refusal(r)),
    }
}

/// Help cut a session's price (operator key). The cut is random but
/// reproducible from the session's seed, whole fen, at least one; the
/// `helpers_needed`-th help lands exactly on the floor. 409 `self_help`,
/// `staff_or_bot`, `not_new`, `already_helped` (with that helper's `cut`),
/// `session_complete`, `session_expired`, `session_closed`.
#[utoipa::path(post, path = "/bargain-sessions/{id}/helps", tag = "bargains", params(("id" = Uuid, Path)),
    request_body = HelpIn,
    responses((status = 201, body = HelpDone), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope),
        (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn help_session(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<HelpIn>,
) -> ApiResult<(StatusCode, Json<HelpDone>)> {
    auth.require(Role::Operator)?;
    match service::help(&state.pool, auth.workspace_id, id, body.helper_id, state.clock.now()).await? {
        None => Err(ApiError::unknown("helper_id", "no such member in this workspace")),
        Some(Ok(h)) => Ok((StatusCode::CREATED, Json(h))),
        Some(Err(r)) => Err(refusal(r)),
    }
}

/// Buy at the session's price on the member's order (operator key): at
/// the price reached so far with `buy_at: any_price` (which ends the
/// bargaining), else only once complete. Sends `bargain.purchased`. The
/// same order again answers the same. 409 `floor_not_reached`,
/// `already_purchased`, `session_expired`, `order_in_use`.
#[utoipa::path(post, path = "/bargain-sessions/{id}/purchase", tag = "bargains", params(("id" = Uuid, Path)),
    request_body = Purchase,
    responses((status = 200, body = Session), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope),
        (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn purchase_session(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<Purchase>,
) -> ApiResult<Json<Session>> {
    auth.require(Role::Operator)?;
    let mut c = crate::validate::Checks::new();
    c.text("order_id", &body.order_id, 1, 128);
    c.finish()?;
    match service::purchase(&state.pool, auth.workspace_id, id, &body.order_id, state.clock.now()).await? {
        Ok(s) => Ok(Json(s)),
        Err(r) => Err(refusal(r)),
    }
}

/// Session filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SessionQuery {
    pub bargain_id: Option<Uuid>,
    pub member_id: Option<MemberId>,
    pub status: Option<SessionStatus>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    #[param(value_type = Option<uuid::Uuid>)]
    pub cursor: Option<String>,
}

/// A bargain's session filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OwnSessionQuery {
    pub status: Option<SessionStatus>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    #[param(value_type = Option<uuid::Uuid>)]
    pub cursor: Option<String>,
}

async fn sessions_page(
    state: &AppState,
    auth: &Auth,
    f: SessionFilter,
    page: PageParams,
) -> ApiResult<Json<Page<Session>>> {
    let mut conn = state.pool.acquire().await?;
    let rows = repo::list_sessions(&mut conn, auth.workspace_id, &f, page.after, page.fetch_limit()).await?;
    let sessions = rows.into_iter().map(|s| s.view(vec![])).collect();
    Ok(Json(Page::from_rows(sessions, page, |s| s.id)))
}

/// A bargain's sessions, newest first (each without its helps).
#[utoipa::path(get, path = "/bargains/{id}/sessions", tag = "bargains", params(("id" = Uuid, Path), OwnSessionQuery),
    responses((status = 200, body = Page<Session>), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn list_bargain_sessions(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<OwnSessionQuery>,
) -> ApiResult<Json<Page<Session>>> {
    let page = PageParams::parse(q.limit, q.cursor.as_deref())?;
    bargain(&state, &auth, id).await?;
    sessions_page(&state, &auth, SessionFilter { bargain: Some(id), member: None, status: q.status }, page).await
}

/// Sessions of every bargain, newest first (each without its helps).
#[utoipa::path(get, path = "/bargain-sessions", tag = "bargains", params(SessionQuery),
    responses((status = 200, body = Page<Session>), (status = 422, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn list_sessions(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<SessionQuery>,
) -> ApiResult<Json<Page<Session>>> {
    let page = PageParams::parse(q.limit, q.cursor.as_deref())?;
    let f = SessionFilter { bargain: q.bargain_id, member: q.member_id, status: q.status };
    sessions_page(&state, &auth, f, page).await
}

/// One session with every help.
#[utoipa::path(get, path = "/bargain-sessions/{id}", tag = "bargains", params(("id" = Uuid, Path)),
    responses((status = 200, body = Session), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn get_session(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Session>> {
    let mut conn = state.pool.acquire().await?;
    let s = repo::get_session(&mut conn, auth.workspace_id, id, false).await?.ok_or(ApiError::NotFound("session"))?;
    Ok(Json(service::view(&mut conn, auth.workspace_id, s).await?))
}
