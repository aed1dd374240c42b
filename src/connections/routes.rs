//! `/v1/connections`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::Duration;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::model::{
    belong_elsewhere, check_credentials, Connection, CreateConnection, RotateCredentials, UpdateConnection,
    DEFAULT_GRACE_SECONDS,
};
use super::repo;
use crate::audit::{self, Actor};
use crate::error::{ApiError, ApiResult, ErrorEnvelope};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::http::pagination::{Page, PageParams, PageQuery};
use crate::ids::ConnectionId;
use crate::keys::auth::Auth;
use crate::keys::model::Role;
use crate::state::AppState;

/// Routes of this feature.
pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    crate::state::AppState: axum::extract::FromRef<S>,
    std::sync::Arc<crate::connections::cache::ConnectionCache>: axum::extract::FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list_connections, create_connection))
        .routes(routes!(get_connection, update_connection, delete_connection))
        .routes(routes!(rotate_connection_credentials))
}

/// List connections (credentials are never shown).
#[utoipa::path(get, path = "/connections", tag = "connections", params(PageQuery),
    responses((status = 200, body = Page<Connection>)), security(("bearer" = [])))]
pub async fn list_connections(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<Connection>>> {
    let page = PageParams::parse(q.limit, q.cursor.as_deref())?;
    let mut conn = state.pool.acquire().await?;
    let rows = repo::list(&mut conn, auth.workspace_id, page.after, page.fetch_limit()).await?;
    Ok(Json(Page::from_rows(rows, page, |c| c.id.0)))
}

/// One connection.
#[utoipa::path(get, path = "/connections/{id}", tag = "connections", params(("id" = ConnectionId, Path)),
    responses((status = 200, body = Connection), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn get_connection(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<ConnectionId>,
) -> ApiResult<Json<Connection>> {
    let mut conn = state.pool.acquire().await?;
    Ok(Json(repo::get(&mut conn, auth.workspace_id, id).await?.ok_or(ApiError::NotFound("connection"))?))
}

/// Connect a platform account (admin or owner). Answers the webhook URL to give the platform.
#[utoipa::path(post, path = "/connections", tag = "connections", request_body = CreateConnection,
    responses((status = 201, body = Connection), (status = 422, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn create_connection(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(mut body): ApiJson<CreateConnection>,
) -> ApiResult<(StatusCode, Json<Connection>)> {
    auth.require(Role::Admin)?;
    body.validate()?;
    let mut tx = crate::db::begin(&state.pool).await?;
    let id = repo::insert(&mut tx, auth.workspace_id, &body).await?;
    audit::record(
        &mut tx,
        auth.workspace_id,
        Actor::from(&auth),
        "connection.create",
        "connection",
        id,
        serde_json::json!({"platform": body.platform}),
    )
    .await?;
    let c = repo::get(&mut tx, auth.workspace_id, id).await?.ok_or(ApiError::NotFound("connection"))?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(c)))
}

/// Rename, disable or re-configure a connection (admin or owner).
#[utoipa::path(patch, path = "/connections/{id}", tag = "connections", params(("id" = ConnectionId, Path)),
    request_body = UpdateConnection,
    responses((status = 200, body = Connection), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn update_connection(
    State(state): State<AppState>,
    State(cache): State<std::sync::Arc<crate::connections::cache::ConnectionCache>>,
    auth: Auth,
    ApiPath(id): ApiPath<ConnectionId>,
    ApiJson(mut body): ApiJson<UpdateConnection>,
) -> ApiResult<Json<Connection>> {
    auth.require(Role::Admin)?;
    body.validate()?;
    let mut tx = crate::db::begin(&state.pool).await?;
    if !repo::update(&mut tx, auth.workspace_id, id, &body).await? {
        return Err(ApiError::NotFound("connection"));
    }
    audit::record(
        &mut tx,
        auth.workspace_id,
        Actor::from(&auth),
        "connection.update",
        "connection",
        id,
        serde_json::json!({"status": body.status}),
    )
    .await?;
    let c = repo::get(&mut tx, auth.workspace_id, id).await?.ok_or(ApiError::NotFound("connection"))?;
    tx.commit().await?;
    cache.forget(id.0);
    Ok(Json(c))
}

/// Replace the credentials; the old ones stay valid for the grace period.
#[utoipa::path(post, path = "/connections/{id}/rotate", tag = "connections", params(("id" = ConnectionId, Path)),
    request_body = RotateCredentials,
    responses((status = 200, body = Connection), (status = 404, body = ErrorEnvelope),
        (status = 409, description = "The credentials are another platform's (`platform_mismatch`)", body = ErrorEnvelope),
        (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn rotate_connection_credentials(
    State(state): State<AppState>,
    State(cache): State<std::sync::Arc<crate::connections::cache::ConnectionCache>>,
    auth: Auth,
    ApiPath(id): ApiPath<ConnectionId>,
    ApiJson(body): ApiJson<RotateCredentials>,
) -> ApiResult<Json<Connection>> {
    auth.require(Role::Admin)?;
    let grace = body.grace_seconds.unwrap_or(DEFAULT_GRACE_SECONDS);
    if !(0..=30 * 86_400).contains(&grace) {
        return Err(ApiError::field("grace_seconds", "out_of_range", "must be between 0 and 2592000"));
    }
    let mut tx = crate::db::begin(&state.pool).await?;
    let current = repo::get(&mut tx, auth.workspace_id, id).await?.ok_or(ApiError::NotFound("connection"))?;
    if let Err(e) = check_credentials(current.platform, &body.credentials) {
        // Well-formed credentials of another platform do not fit this connection.
        if belong_elsewhere(current.platform, &body.credentials) {
            return Err(ApiError::Conflict {
                code: "platform_mismatch",
                message: format!("these are not credentials of a {} connection", current.platform.as_str()),
            });
        }
        return Err(e);
    }
    let until = state.clock.now() + Duration::seconds(grace);
    repo::rotate(&mut tx, auth.workspace_id, id, &body.credentials, until).await?;
    audit::record(
        &mut tx,
        auth.workspace_id,
        Actor::from(&auth),
        "connection.rotate",
        "connection",
        id,
        serde_json::json!({"grace_seconds": grace}),
    )
    .await?;
    let c = repo::get(&mut tx, auth.workspace_id, id).await?.ok_or(ApiError::NotFound("connection"))?;
    tx.commit().await?;
    cache.forget(id.0);
    Ok(Json(c))
}

/// Delete a connection and its stored webhook requests (admin or owner); 409 while SOP plans send through it.
#[utoipa::path(delete, path = "/connections/{id}", tag = "connections", params(("id" = ConnectionId, Path)),
    responses((status = 204), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn delete_connection(
    State(state): State<AppState>,
    State(cache): State<std::sync::Arc<crate::connections::cache::ConnectionCache>>,
    auth: Auth,
    ApiPath(id): ApiPath<ConnectionId>,
) -> ApiResult<StatusCode> {
    auth.require(Role::Admin)?;
    let mut tx = crate::db::begin(&state.pool).await?;
    let deleted = repo::delete(&mut tx, auth.workspace_id, id).await.map_err(|e| {
        crate::error::on_constraint(e, |c| {
            (c == "sop_plans_connection_fkey")
                .then(|| ApiError::conflict("connection_in_use", "SOP plans send through this connection"))
        })
    })?;
    if !deleted {
        return Err(ApiError::NotFound("connection"));
    }
    audit::record(
        &mut tx,
        auth.workspace_id,
        Actor::from(&auth),
        "connection.delete",
        "connection",
        id,
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    cache.forget(id.0);
    Ok(StatusCode::NO_CONTENT)
}
