//! `/v1/tiers`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::model::{CreateTier, Tier, UpdateTier, MAX_TIERS};
use super::repo;
use crate::audit::{self, Actor};
use crate::error::{on_constraint, ApiError, ApiResult, ErrorEnvelope};
use crate::http::extract::{ApiJson, ApiPath};
use crate::http::pagination::Page;
use crate::ids::TierId;
use crate::keys::auth::Auth;
use crate::keys::model::Role;
use crate::state::AppState;

/// Routes of this feature.
pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    crate::state::AppState: axum::extract::FromRef<S>,
{
    OpenApiRouter::new().routes(routes!(list_tiers, create_tier)).routes(routes!(get_tier, update_tier, delete_tier))
}

fn map_err(e: sqlx::Error) -> ApiError {
    on_constraint(e, |c| match c {
        "tiers_key_key" => Some(ApiError::conflict("already_exists", "a tier with this key exists")),
        "groups_tier_fkey" | "members_tier_fkey" => {
            Some(ApiError::conflict("tier_in_use", "groups or members still have this tier"))
        }
        "sop_plans_tier_fkey" => Some(ApiError::conflict("tier_in_use", "SOP plans target this tier")),
        "tier_rule_sets_default_fkey" => {
            Some(ApiError::conflict("tier_in_use", "the tier rules give this tier by default"))
        }
        _ => None,
    })
}

/// All tiers, most valuable first (one page).
#[utoipa::path(get, path = "/tiers", tag = "tiers",
    responses((status = 200, body = Page<Tier>)), security(("bearer" = [])))]
pub async fn list_tiers(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Page<Tier>>> {
    let mut conn = state.pool.acquire().await?;
    let items = repo::list(&mut conn, auth.workspace_id).await?;
    Ok(Json(Page { items, next_cursor: None }))
}

/// One tier.
#[utoipa::path(get, path = "/tiers/{id}", tag = "tiers", params(("id" = TierId, Path)),
    responses((status = 200, body = Tier), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn get_tier(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<TierId>,
) -> ApiResult<Json<Tier>> {
    let mut conn = state.pool.acquire().await?;
    Ok(Json(repo::get(&mut conn, auth.workspace_id, id).await?.ok_or(ApiError::NotFound("tier"))?))
}

/// Define a tier (operator and up).
#[utoipa::path(post, path = "/tiers", tag = "tiers", request_body = CreateTier,
    responses((status = 201, body = Tier), (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn create_tier(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<CreateTier>,
) -> ApiResult<(StatusCode, Json<Tier>)> {
    auth.require(Role::Operator)?;
    body.validate()?;
    let mut tx = crate::db::begin(&state.pool).await?;
    if repo::count(&mut tx, auth.workspace_id).await? >= MAX_TIERS {
        return Err(ApiError::conflict("limit_reached", format!("a workspace has at most {MAX_TIERS} tiers")));
    }
    let tier = repo::insert(&mut tx, auth.workspace_id, &body).await.map_err(map_err)?;
    audit::record(
        &mut tx,
        auth.workspace_id,
        Actor::from(&auth),
        "tier.create",
        "tier",
        tier.id,
        serde_json::json!({"key": tier.key}),
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(tier)))
}

/// Change a tier; a new key carries over to its groups and members.
#[utoipa::path(patch, path = "/tiers/{id}", tag = "tiers", params(("id" = TierId, Path)), request_body = UpdateTier,
    responses((status = 200, body = Tier), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn update_tier(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<TierId>,
    ApiJson(body): ApiJson<UpdateTier>,
) -> ApiResult<Json<Tier>> {
    auth.require(Role::Operator)?;
    body.validate()?;
    let mut tx = crate::db::begin(&state.pool).await?;
    let tier = repo::update(&mut tx, auth.workspace_id, id, &body)
        .await
        .map_err(map_err)?
        .ok_or(ApiError::NotFound("tier"))?;
    audit::record(
        &mut tx,
        auth.workspace_id,
        Actor::from(&auth),
        "tier.update",
        "tier",
        id,
        serde_json::json!({"key": tier.key}),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(tier))
}

/// Delete a tier no group or member uses (409 otherwise).
#[utoipa::path(delete, path = "/tiers/{id}", tag = "tiers", params(("id" = TierId, Path)),
    responses((status = 204), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn delete_tier(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<TierId>,
) -> ApiResult<StatusCode> {
    auth.require(Role::Operator)?;
    let mut tx = crate::db::begin(&state.pool).await?;
    if !repo::delete(&mut tx, auth.workspace_id, id).await.map_err(map_err)? {
        return Err(ApiError::NotFound("tier"));
    }
    audit::record(&mut tx, auth.workspace_id, Actor::from(&auth), "tier.delete", "tier", id, serde_json::json!({}))
        .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
