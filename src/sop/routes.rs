//! `/v1/sop-plans`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::model::{
    check_dates, compile_steps, ChangePlanStatus, CreatePlan, Plan, PlanQuery, PlanStatus, Preview, PreviewQuery,
    UpdatePlan,
};
use super::{repo, service};
use crate::audit::{self, Actor};
use crate::error::{ApiError, ApiResult, ErrorEnvelope};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::http::pagination::{Page, PageParams};
use crate::ids::PlanId;
use crate::keys::auth::Auth;
use crate::keys::model::Role;
use crate::state::AppState;
use crate::validate::Checks;

/// Routes of this feature.
pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    crate::state::AppState: axum::extract::FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list_plans, create_plan))
        .routes(routes!(get_plan, update_plan, delete_plan))
        .routes(routes!(change_plan_status))
        .routes(routes!(preview_plan))
}

/// List SOP plans.
#[utoipa::path(get, path = "/sop-plans", tag = "sop", params(PlanQuery),
    responses((status = 200, body = Page<Plan>), (status = 422, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn list_plans(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<PlanQuery>,
) -> ApiResult<Json<Page<Plan>>> {
    let page = PageParams::parse(q.limit, q.cursor.as_deref())?;
    let mut conn = state.pool.acquire().await?;
    let rows =
        repo::list(&mut conn, auth.workspace_id, q.status, q.campaign_id, page.after, page.fetch_limit()).await?;
    Ok(Json(Page::from_rows(rows, page, |p| p.id.0)))
}

/// One plan with its steps.
#[utoipa::path(get, path = "/sop-plans/{id}", tag = "sop", params(("id" = PlanId, Path)),
    responses((status = 200, body = Plan), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn get_plan(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<PlanId>,
) -> ApiResult<Json<Plan>> {
    let mut conn = state.pool.acquire().await?;
    Ok(Json(repo::get(&mut conn, auth.workspace_id, id, false).await?.ok_or(ApiError::NotFound("sop plan"))?))
}

/// Create a plan; an active one is scheduled at once.
#[utoipa::path(post, path = "/sop-plans", tag = "sop", request_body = CreatePlan,
    responses((status = 201, body = Plan), (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn create_plan(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<CreatePlan>,
) -> ApiResult<(StatusCode, Json<Plan>)> {
    auth.require(Role::Operator)?;
    body.validate()?;
    let timings = compile_steps(&mut Checks::new(), &body.steps);
    let ws = auth.workspace_id;
    let now = state.clock.now();
    let mut tx = crate::db::begin(&state.pool).await?;
    service::check_refs(&mut tx, ws, &body.target, body.campaign_id, body.connection_id, &body.steps, &timings).await?;
    let plan = Plan {
        id: PlanId::new(),
        name: body.name.trim().to_owned(),
        status: body.status.unwrap_or(PlanStatus::Active),
        target: body.target,
        campaign_id: body.campaign_id,
        connection_id: body.connection_id,
        quiet_hours: body.quiet_hours,
        jitter_seconds: body.jitter_seconds,
        starts_on: body.starts_on,
        ends_on: body.ends_on,
        steps: vec![],
        created_at: now,
        updated_at: now,
    };
    let saved = service::save(&mut tx, ws, &plan, &[], &body.steps, now, true).await?;
    audit::record(&mut tx, ws, Actor::from(&auth), "sop_plan.create", "sop_plan", saved.id, serde_json::json!({}))
        .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(saved)))
}

/// Change a plan; only slots after now are affected, claimed ones finish.
#[utoipa::path(patch, path = "/sop-plans/{id}", tag = "sop", params(("id" = PlanId, Path)), request_body = UpdatePlan,
    responses((status = 200, body = Plan), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope),
        (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn update_plan(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<PlanId>,
    ApiJson(body): ApiJson<UpdatePlan>,
) -> ApiResult<Json<Plan>> {
    auth.require(Role::Operator)?;
    let ws = auth.workspace_id;
    let now = state.clock.now();
    let mut tx = crate::db::begin(&state.pool).await?;
    let mut p = repo::get(&mut tx, ws, id, true).await?.ok_or(ApiError::NotFound("sop plan"))?;
    if p.status == PlanStatus::Archived {
        return Err(ApiError::conflict("plan_archived", "an archived plan cannot be changed"));
    }
    let (steps, timings) = body.apply_to(&mut p)?;
    // One date given, and it does not fit the other stored: 409.
    let mut stored = Checks::new();
    check_dates(&mut stored, p.starts_on, p.ends_on);
    stored.finish_as_conflict("before_start")?;
    service::check_refs(&mut tx, ws, &p.target, p.campaign_id, p.connection_id, &steps, &timings).await?;
    let old = std::mem::take(&mut p.steps);
    let saved = service::save(&mut tx, ws, &p, &old, &steps, now, false).await?;
    audit::record(&mut tx, ws, Actor::from(&auth), "sop_plan.update", "sop_plan", id, serde_json::json!({})).await?;
    tx.commit().await?;
    Ok(Json(saved))
}

/// Pause, resume or archive a plan (archived is final; resuming sends future slots only).
#[utoipa::path(post, path = "/sop-plans/{id}/status", tag = "sop", params(("id" = PlanId, Path)), request_body = ChangePlanStatus,
    responses((status = 200, body = Plan), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope),
        (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn change_plan_status(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<PlanId>,
    ApiJson(body): ApiJson<ChangePlanStatus>,
) -> ApiResult<Json<Plan>> {
    auth.require(Role::Operator)?;
    let ws = auth.workspace_id;
    let now = state.clock.now();
    let mut tx = crate::db::begin(&state.pool).await?;
    let p = repo::get(&mut tx, ws, id, true).await?.ok_or(ApiError::NotFound("sop plan"))?;
    if p.status == PlanStatus::Archived {
        return Err(ApiError::conflict("plan_archived", "an archived plan stays archived"));
    }
    if p.status != body.status {
        repo::set_status(&mut tx, ws, id, body.status, now).await?;
        if body.status == PlanStatus::Active {
            let plan = repo::get(&mut tx, ws, id, false).await?.ok_or(ApiError::NotFound("sop plan"))?;
            super::schedule::sync_plan(&mut tx, ws, &super::schedule::Compiled::new(plan)?, now, now, now).await?;
        }
        let details = serde_json::json!({"from": p.status, "to": body.status});
        audit::record(&mut tx, ws, Actor::from(&auth), "sop_plan.status", "sop_plan", id, details).await?;
    }
    let saved = repo::get(&mut tx, ws, id, false).await?.ok_or(ApiError::NotFound("sop plan"))?;
    tx.commit().await?;
    Ok(Json(saved))
}

/// Delete a plan that never produced a delivery (archive it otherwise: 409).
#[utoipa::path(delete, path = "/sop-plans/{id}", tag = "sop", params(("id" = PlanId, Path)),
    responses((status = 204), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn delete_plan(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<PlanId>,
) -> ApiResult<StatusCode> {
    auth.require(Role::Operator)?;
    let ws = auth.workspace_id;
    let mut tx = crate::db::begin(&state.pool).await?;
    repo::get(&mut tx, ws, id, true).await?.ok_or(ApiError::NotFound("sop plan"))?;
    if repo::has_deliveries(&mut tx, ws, id).await? {
        return Err(ApiError::conflict("plan_has_deliveries", "this plan has sent; archive it instead"));
    }
    repo::delete(&mut tx, ws, id).await?;
    audit::record(&mut tx, ws, Actor::from(&auth), "sop_plan.delete", "sop_plan", id, serde_json::json!({})).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every slot the plan will fire in a window of local dates, sending nothing.
#[utoipa::path(get, path = "/sop-plans/{id}/preview", tag = "sop", params(("id" = PlanId, Path), PreviewQuery),
    responses((status = 200, body = Preview), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn preview_plan(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<PlanId>,
    ApiQuery(q): ApiQuery<PreviewQuery>,
) -> ApiResult<Json<Preview>> {
    let days = q.days.unwrap_or(7);
    if !(1..=90).contains(&days) {
        return Err(ApiError::field("days", "out_of_range", "must be 1-90"));
    }
    if q.from.is_some_and(|d| !(1970..=9999).contains(&chrono::Datelike::year(&d))) {
        return Err(ApiError::field("from", "out_of_range", "must be a date between 1970 and 9999"));
    }
    let ws = auth.workspace_id;
    let now = state.clock.now();
    let mut conn = state.pool.acquire().await?;
    let plan = repo::get(&mut conn, ws, id, false).await?.ok_or(ApiError::NotFound("sop plan"))?;
    let tz = crate::workspaces::repo::get(&mut conn, ws).await?.map(|w| w.timezone).unwrap_or_default();
    let from = q.from.unwrap_or_else(|| now.with_timezone(&crate::clock::zone(&tz)).date_naive());
    Ok(Json(service::preview(&mut conn, ws, plan, from, days, q.group_id, now).await?))
}

impl From<service::PlanError> for ApiError {
    fn from(e: service::PlanError) -> Self {
        use service::PlanError as E;
        let message = e.to_string();
        match e {
            E::Unknown(fields) => ApiError::Unknown(fields),
            E::Misfit { code, message } => ApiError::conflict(code, message),
            E::NameTaken => ApiError::conflict("already_exists", message),
            E::BeforeStart => ApiError::conflict("before_start", message),
            E::NotFound => ApiError::NotFound("sop plan"),
            E::Database(e) => ApiError::from(e),
            E::Internal(e) => ApiError::Internal(e),
        }
    }
}
