//! `/v1/staff` and `/v1/groups/{id}/staff`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::model::{AssignStaff, CreateStaff, GroupStaff, Persona, Staff, UpdateStaff};
use super::repo;
use crate::audit::{self, Actor};
use crate::error::{on_constraint, ApiError, ApiResult, ErrorEnvelope};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::http::pagination::{Page, PageParams};
use crate::ids::{GroupId, StaffId};
use crate::keys::auth::Auth;
use crate::keys::model::Role;
use crate::state::AppState;

/// Routes of this feature.
pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    crate::state::AppState: axum::extract::FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list_staff, create_staff))
        .routes(routes!(get_staff, update_staff, delete_staff))
        .routes(routes!(list_group_staff))
        .routes(routes!(assign_group_staff, unassign_group_staff))
}

fn map_err(e: sqlx::Error) -> ApiError {
    on_constraint(e, |c| {
        (c == "staff_member_fkey").then(|| ApiError::unknown("member_id", "no such member in this workspace"))
    })
}

/// Staff filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StaffQuery {
    pub persona: Option<Persona>,
    pub active: Option<bool>,
    /// Substring of the name.
    pub q: Option<String>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    #[param(value_type = Option<uuid::Uuid>)]
    pub cursor: Option<String>,
}

/// List staff.
#[utoipa::path(get, path = "/staff", tag = "staff", params(StaffQuery),
    responses((status = 200, body = Page<Staff>)), security(("bearer" = [])))]
pub async fn list_staff(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<StaffQuery>,
) -> ApiResult<Json<Page<Staff>>> {
    let page = PageParams::parse(q.limit, q.cursor.as_deref())?;
    let filter = repo::Filter { persona: q.persona, active: q.active, q: q.q };
    let mut conn = state.pool.acquire().await?;
    let rows = repo::list(&mut conn, auth.workspace_id, &filter, page.after, page.fetch_limit()).await?;
    Ok(Json(Page::from_rows(rows, page, |s| s.id.0)))
}

/// One staff member.
#[utoipa::path(get, path = "/staff/{id}", tag = "staff", params(("id" = StaffId, Path)),
    responses((status = 200, body = Staff), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn get_staff(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<StaffId>,
) -> ApiResult<Json<Staff>> {
    let mut conn = state.pool.acquire().await?;
    Ok(Json(repo::get(&mut conn, auth.workspace_id, id).await?.ok_or(ApiError::NotFound("staff"))?))
}

/// Add a staff member or bot.
#[utoipa::path(post, path = "/staff", tag = "staff", request_body = CreateStaff,
    responses((status = 201, body = Staff), (status = 422, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn create_staff(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<CreateStaff>,
) -> ApiResult<(StatusCode, Json<Staff>)> {
    auth.require(Role::Operator)?;
    body.validate()?;
    let mut tx = crate::db::begin(&state.pool).await?;
    let id = repo::insert(&mut tx, auth.workspace_id, &body).await.map_err(map_err)?;
    audit::record(&mut tx, auth.workspace_id, Actor::from(&auth), "staff.create", "staff", id, serde_json::json!({}))
        .await?;
    let staff = repo::get(&mut tx, auth.workspace_id, id).await?.ok_or(ApiError::NotFound("staff"))?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(staff)))
}

/// Change a staff member.
#[utoipa::path(patch, path = "/staff/{id}", tag = "staff", params(("id" = StaffId, Path)), request_body = UpdateStaff,
    responses((status = 200, body = Staff), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn update_staff(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<StaffId>,
    ApiJson(body): ApiJson<UpdateStaff>,
) -> ApiResult<Json<Staff>> {
    auth.require(Role::Operator)?;
    body.validate()?;
    let mut tx = crate::db::begin(&state.pool).await?;
    if !repo::update(&mut tx, auth.workspace_id, id, &body).await.map_err(map_err)? {
        return Err(ApiError::NotFound("staff"));
    }
    audit::record(&mut tx, auth.workspace_id, Actor::from(&auth), "staff.update", "staff", id, serde_json::json!({}))
        .await?;
    let staff = repo::get(&mut tx, auth.workspace_id, id).await?.ok_or(ApiError::NotFound("staff"))?;
    tx.commit().await?;
    Ok(Json(staff))
}

/// Remove a staff member (their group assignments go too).
#[utoipa::path(delete, path = "/staff/{id}", tag = "staff", params(("id" = StaffId, Path)),
    responses((status = 204), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn delete_staff(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<StaffId>,
) -> ApiResult<StatusCode> {
    auth.require(Role::Operator)?;
    let mut tx = crate::db::begin(&state.pool).await?;
    if !repo::delete(&mut tx, auth.workspace_id, id).await? {
        return Err(ApiError::NotFound("staff"));
    }
    audit::record(&mut tx, auth.workspace_id, Actor::from(&auth), "staff.delete", "staff", id, serde_json::json!({}))
        .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Staff assigned to a group.
#[utoipa::path(get, path = "/groups/{id}/staff", tag = "staff", params(("id" = GroupId, Path)),
    responses((status = 200, body = Page<GroupStaff>), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn list_group_staff(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<GroupId>,
) -> ApiResult<Json<Page<GroupStaff>>> {
    let mut conn = state.pool.acquire().await?;
    if !crate::groups::repo::exists(&mut conn, auth.workspace_id, id).await? {
        return Err(ApiError::NotFound("group"));
    }
    let items = repo::list_for_group(&mut conn, auth.workspace_id, id).await?;
    Ok(Json(Page { items, next_cursor: None }))
}

/// Assign a staff member to a group (or change their role there).
#[utoipa::path(put, path = "/groups/{id}/staff/{staff_id}", tag = "staff",
    params(("id" = GroupId, Path), ("staff_id" = StaffId, Path)), request_body = AssignStaff,
    responses((status = 200, body = Page<GroupStaff>), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn assign_group_staff(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath((group, staff_id)): ApiPath<(GroupId, StaffId)>,
    ApiJson(body): ApiJson<AssignStaff>,
) -> ApiResult<Json<Page<GroupStaff>>> {
    auth.require(Role::Operator)?;
    let mut tx = crate::db::begin(&state.pool).await?;
    if !crate::groups::repo::exists(&mut tx, auth.workspace_id, group).await? {
        return Err(ApiError::NotFound("group"));
    }
    let staff = repo::get(&mut tx, auth.workspace_id, staff_id).await?.ok_or(ApiError::NotFound("staff"))?;
    let role = body.role.unwrap_or(staff.persona);
    repo::assign(&mut tx, auth.workspace_id, group, staff_id, role).await?;
    audit::record(
        &mut tx,
        auth.workspace_id,
        Actor::from(&auth),
        "group.staff_assign",
        "group",
        group,
        serde_json::json!({"staff_id": staff_id, "role": role}),
    )
    .await?;
    let items = repo::list_for_group(&mut tx, auth.workspace_id, group).await?;
    tx.commit().await?;
    Ok(Json(Page { items, next_cursor: None }))
}

/// Remove a staff member from a group.
#[utoipa::path(delete, path = "/groups/{id}/staff/{staff_id}", tag = "staff",
    params(("id" = GroupId, Path), ("staff_id" = StaffId, Path)),
    responses((status = 204), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn unassign_group_staff(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath((group, staff_id)): ApiPath<(GroupId, StaffId)>,
) -> ApiResult<StatusCode> {
    auth.require(Role::Operator)?;
    let mut tx = crate::db::begin(&state.pool).await?;
    if !repo::unassign(&mut tx, auth.workspace_id, group, staff_id).await? {
        return Err(ApiError::NotFound("staff assignment"));
    }
    audit::record(
        &mut tx,
        auth.workspace_id,
        Actor::from(&auth),
        "group.staff_unassign",
        "group",
        group,
        serde_json::json!({"staff_id": staff_id}),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
