//! `/v1/groups`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::model::{CreateGroup, Group, GroupStatus, UpdateGroup};
use super::outbound::{self, Created};
use super::repo::{self, GroupFilter};
use crate::audit::{self, Actor};
use crate::error::{on_constraint, ApiError, ApiResult, ErrorEnvelope};
use crate::http::csv::{self, Format, EXPORT_PAGE};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::http::pagination::{Page, PageParams};
use crate::ids::{GroupId, StaffId};
use crate::keys::auth::Auth;
use crate::keys::model::Role;
use crate::platform::Platform;
use crate::state::AppState;

/// Routes of this feature.
pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    crate::state::AppState: axum::extract::FromRef<S>,
{
    OpenApiRouter::new().routes(routes!(list_groups, create_group)).routes(routes!(get_group, update_group))
}

/// Maps the constraints groups can hit.
pub fn map_err(e: sqlx::Error) -> ApiError {
    on_constraint(e, |c| match c {
        "groups_platform_external_id_key" => {
            Some(ApiError::conflict("already_exists", "a group with this platform and external_id exists"))
        }
        "groups_tier_fkey" => Some(ApiError::unknown("tier", "no such tier in this workspace")),
        "groups_owner_staff_fkey" => Some(ApiError::unknown("owner_staff_id", "no such staff member")),
        _ => None,
    })
}

/// Group filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct GroupQuery {
    pub platform: Option<Platform>,
    pub status: Option<GroupStatus>,
    /// Groups carrying this tag (comma-separated: any of them).
    pub tag: Option<String>,
    /// Value tier key.
    pub tier: Option<String>,
    pub region: Option<String>,
    pub category: Option<String>,
    pub owner_staff_id: Option<StaffId>,
    /// Substring of the name.
    pub q: Option<String>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    #[param(value_type = Option<uuid::Uuid>)]
    pub cursor: Option<String>,
    /// `csv`: every matching group as one CSV download (`limit` and `cursor` do not apply).
    #[param(inline)]
    pub format: Option<Format>,
}

fn one(v: Option<String>) -> Vec<String> {
    v.into_iter().collect()
}

/// List groups with their current member counts.
#[utoipa::path(get, path = "/groups", tag = "groups", params(GroupQuery),
    responses((status = 200, body = Page<Group>), (status = 422, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn list_groups(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<GroupQuery>,
) -> ApiResult<Response> {
    let page = PageParams::parse(q.limit, q.cursor.as_deref())?;
    let filter = GroupFilter {
        statuses: q.status.into_iter().collect(),
        platforms: q.platform.into_iter().collect(),
        tiers: one(q.tier),
        regions: one(q.region),
        categories: one(q.category),
        tags_any: q.tag.map(|t| t.split(',').map(|s| s.trim().to_owned()).collect()).unwrap_or_default(),
        q: q.q,
        owner_staff_id: q.owner_staff_id,
        ..GroupFilter::default()
    };
    if q.format == Some(Format::Csv) {
        let (pool, ws) = (state.pool.clone(), auth.workspace_id);
        let fetch = move |after| {
            let (pool, filter) = (pool.clone(), filter.clone());
            async move { Ok(repo::list(&mut *pool.acquire().await?, ws, &filter, after, EXPORT_PAGE).await?) }
        };
        return csv::export("groups", CSV_COLUMNS, fetch, |g: &Group| g.id.0, csv_row).await;
    }
    let mut conn = state.pool.acquire().await?;
    let rows = repo::list(&mut conn, auth.workspace_id, &filter, page.after, page.fetch_limit()).await?;
    Ok(Json(Page::from_rows(rows, page, |g| g.id.0)).into_response())
}

const CSV_COLUMNS: &[&str] = &[
    "id",
    "name",
    "platform",
    "external_id",
    "status",
    "tier",
    "region",
    "category",
    "owner_staff_id",
    "timezone",
    "member_count",
    "tags",
    "created_at",
];

fn csv_row(g: &Group) -> Vec<String> {
    vec![
        g.id.to_string(),
        g.name.clone(),
        g.platform.as_str().to_owned(),
        g.external_id.clone(),
        csv::word(&g.status),
        csv::cell(g.tier.as_ref()),
        csv::cell(g.region.as_ref()),
        csv::cell(g.category.as_ref()),
        csv::cell(g.owner_staff_id),
        csv::cell(g.timezone.as_ref()),
        g.member_count.to_string(),
        g.tags.join(";"),
        g.created_at.to_rfc3339(),
    ]
}

/// One group.
#[utoipa::path(get, path = "/groups/{id}", tag = "groups", params(("id" = GroupId, Path)),
    responses((status = 200, body = Group), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn get_group(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<GroupId>,
) -> ApiResult<Json<Group>> {
    let mut conn = state.pool.acquire().await?;
    Ok(Json(repo::get(&mut conn, auth.workspace_id, id).await?.ok_or(ApiError::NotFound("group"))?))
}

/// Register a group.
#[utoipa::path(post, path = "/groups", tag = "groups", request_body = CreateGroup,
    responses((status = 201, body = Group), (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn create_group(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<CreateGroup>,
) -> ApiResult<(StatusCode, Json<Group>)> {
    auth.require(Role::Operator)?;
    body.validate()?;
    let mut tx = crate::db::begin(&state.pool).await?;
    let id = repo::insert(&mut tx, auth.workspace_id, &body).await.map_err(map_err)?;
    audit::record(
        &mut tx,
        auth.workspace_id,
        Actor::from(&auth),
        "group.create",
        "group",
        id,
        serde_json::json!({"platform": body.platform, "external_id": body.external_id}),
    )
    .await?;
    let group = repo::get(&mut tx, auth.workspace_id, id).await?.ok_or(ApiError::NotFound("group"))?;
    let created = Created { id, name: &group.name, platform: group.platform, external_id: &group.external_id };
    outbound::created(&mut tx, auth.workspace_id, &[created], "api", state.clock.now()).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(group)))
}

/// Change a group (absent fields stay; `null` clears a nullable one).
#[utoipa::path(patch, path = "/groups/{id}", tag = "groups", params(("id" = GroupId, Path)), request_body = UpdateGroup,
    responses((status = 200, body = Group), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn update_group(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<GroupId>,
    ApiJson(body): ApiJson<UpdateGroup>,
) -> ApiResult<Json<Group>> {
    auth.require(Role::Operator)?;
    body.validate()?;
    let status = body.status;
    let mut tx = crate::db::begin(&state.pool).await?;
    let before = repo::get_for_update(&mut tx, auth.workspace_id, id).await?.ok_or(ApiError::NotFound("group"))?;
    if !repo::update(&mut tx, auth.workspace_id, id, body).await.map_err(map_err)? {
        return Err(ApiError::NotFound("group"));
    }
    audit::record(
        &mut tx,
        auth.workspace_id,
        Actor::from(&auth),
        "group.update",
        "group",
        id,
        serde_json::json!({"status": status}),
    )
    .await?;
    let group = repo::get(&mut tx, auth.workspace_id, id).await?.ok_or(ApiError::NotFound("group"))?;
    let now = state.clock.now();
    outbound::status_changed(&mut tx, auth.workspace_id, (id, &group.name), before.status, group.status, now).await?;
    tx.commit().await?;
    Ok(Json(group))
}
