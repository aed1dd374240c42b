//! `/v1/points-rules`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use sqlx::PgConnection;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::model::{PointsRule, PointsRuleInput, RawRule};
use super::repo;
use crate::audit::{self, Actor};
use crate::error::{ApiError, ApiResult, ErrorEnvelope, FieldError};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::http::pagination::{Page, PageParams, PageQuery};
use crate::ids::WorkspaceId;
use crate::keys::auth::Auth;
use crate::keys::model::Role;
use crate::state::AppState;

/// Routes of earning rules.
pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AppState: axum::extract::FromRef<S>,
{
    OpenApiRouter::new().routes(routes!(list_points_rules, create_points_rule)).routes(routes!(
        get_points_rule,
        replace_points_rule,
        delete_points_rule
    ))
}

/// 404 unless the rule's tiers and groups are the workspace's.
async fn check_refs(conn: &mut PgConnection, ws: WorkspaceId, r: &PointsRuleInput) -> ApiResult<()> {
    let (_, scope) = r.parts();
    let mut errors: Vec<FieldError> = Vec::new();
    for (i, t) in scope.tiers.iter().flatten().enumerate() {
        if !crate::tiers::repo::key_exists(conn, ws, t).await? {
            errors.push(FieldError::new(format!("tiers[{i}]"), "unknown", "no such tier in this workspace"));
        }
    }
    if let Some(ids) = &scope.group_ids {
        errors.extend(crate::groups::unknown_ids(conn, ws, ids, "group_ids").await?);
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Unknown(errors))
    }
}

/// Earning rules, newest first.
#[utoipa::path(get, path = "/points-rules", tag = "points", params(PageQuery),
    responses((status = 200, body = Page<PointsRule>), (status = 422, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn list_points_rules(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<PointsRule>>> {
    let page = PageParams::parse(q.limit, q.cursor.as_deref())?;
    let mut conn = state.pool.acquire().await?;
    let rows = repo::list(&mut conn, auth.workspace_id, page.after, page.fetch_limit()).await?;
    Ok(Json(Page::from_rows(rows, page, |r| r.id)))
}

/// One earning rule.
#[utoipa::path(get, path = "/points-rules/{id}", tag = "points", params(("id" = Uuid, Path)),
    responses((status = 200, body = PointsRule), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn get_points_rule(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<PointsRule>> {
    let mut conn = state.pool.acquire().await?;
    Ok(Json(repo::get(&mut conn, auth.workspace_id, id).await?.ok_or(ApiError::NotFound("points rule"))?))
}

/// Create an earning rule (admin): points for paid orders or for events of
/// a type. It applies to events stored from then on.
#[utoipa::path(post, path = "/points-rules", tag = "points", request_body = PointsRuleInput,
    responses((status = 201, body = PointsRule), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn create_points_rule(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<RawRule>,
) -> ApiResult<(StatusCode, Json<PointsRule>)> {
    auth.require(Role::Admin)?;
    let body = body.into_input()?;
    body.validate()?;
    let ws = auth.workspace_id;
    let mut tx = crate::db::begin(&state.pool).await?;
    check_refs(&mut tx, ws, &body).await?;
    let rule = repo::save(&mut tx, ws, Uuid::now_v7(), &body, false).await?.ok_or(ApiError::NotFound("points rule"))?;
    audit::record(&mut tx, ws, Actor::from(&auth), "points_rule.create", "points_rule", rule.id, serde_json::json!({}))
        .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(rule)))
}

/// Replace an earning rule (admin).
#[utoipa::path(put, path = "/points-rules/{id}", tag = "points", params(("id" = Uuid, Path)), request_body = PointsRuleInput,
    responses((status = 200, body = PointsRule), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn replace_points_rule(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<RawRule>,
) -> ApiResult<Json<PointsRule>> {
    auth.require(Role::Admin)?;
    let body = body.into_input()?;
    body.validate()?;
    let ws = auth.workspace_id;
    let mut tx = crate::db::begin(&state.pool).await?;
    check_refs(&mut tx, ws, &body).await?;
    let rule = repo::save(&mut tx, ws, id, &body, true).await?.ok_or(ApiError::NotFound("points rule"))?;
    audit::record(&mut tx, ws, Actor::from(&auth), "points_rule.update", "points_rule", id, serde_json::json!({}))
        .await?;
    tx.commit().await?;
    Ok(Json(rule))
}

/// Delete an earning rule (admin); what it gave stays.
#[utoipa::path(delete, path = "/points-rules/{id}", tag = "points", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn delete_points_rule(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    auth.require(Role::Admin)?;
    let ws = auth.workspace_id;
    let mut tx = crate::db::begin(&state.pool).await?;
    if !repo::delete(&mut tx, ws, id).await? {
        return Err(ApiError::NotFound("points rule"));
    }
    audit::record(&mut tx, ws, Actor::from(&auth), "points_rule.delete", "points_rule", id, serde_json::json!({}))
        .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
