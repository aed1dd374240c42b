//! `/v1/api-keys`: list, create, revoke.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::auth::Auth;
use super::model::{ApiKeyView, CreateApiKey, CreatedApiKey, Role};
use super::repo;
use crate::audit::{self, Actor};
use crate::error::{ApiError, ApiResult, ErrorEnvelope};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::http::pagination::{Page, PageParams, PageQuery};
use crate::ids::ApiKeyId;
use crate::state::AppState;
use crate::validate::Checks;

/// Routes of this feature.
pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    crate::state::AppState: axum::extract::FromRef<S>,
{
    OpenApiRouter::new().routes(routes!(list_api_keys, create_api_key)).routes(routes!(revoke_api_key))
}

/// List the workspace's API keys (admin or owner). Secrets are never listed.
#[utoipa::path(get, path = "/api-keys", tag = "api-keys", params(PageQuery),
    responses((status = 200, body = Page<ApiKeyView>), (status = 403, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn list_api_keys(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<ApiKeyView>>> {
    auth.require(Role::Admin)?;
    let page = PageParams::parse(q.limit, q.cursor.as_deref())?;
    let mut conn = state.pool.acquire().await?;
    let rows = repo::list(&mut conn, auth.workspace_id, page.after, page.fetch_limit()).await?;
    Ok(Json(Page::from_rows(rows, page, |k| k.id.0)))
}

/// Create a key (admin or owner; only owners create owner keys). The secret is in this answer only.
#[utoipa::path(post, path = "/api-keys", tag = "api-keys", request_body = CreateApiKey,
    responses((status = 201, body = CreatedApiKey), (status = 403, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn create_api_key(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<CreateApiKey>,
) -> ApiResult<(StatusCode, Json<CreatedApiKey>)> {
    auth.require(Role::Admin)?;
    if body.role == Role::Owner {
        auth.require(Role::Owner)?;
    }
    let mut c = Checks::new();
    c.text("name", &body.name, 0, 100);
    c.finish()?;
    let mut tx = crate::db::begin(&state.pool).await?;
    let created = repo::create(&mut tx, auth.workspace_id, body.role, body.name.trim(), auth.key_id()).await?;
    audit::record(
        &mut tx,
        auth.workspace_id,
        Actor::from(&auth),
        "api_key.create",
        "api_key",
        created.view.id,
        serde_json::json!({"role": body.role, "prefix": created.view.prefix}),
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Revoke a key (admin or owner; only owners revoke owner keys; the last owner key cannot be revoked).
#[utoipa::path(delete, path = "/api-keys/{id}", tag = "api-keys", params(("id" = ApiKeyId, Path)),
    responses((status = 204), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn revoke_api_key(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<ApiKeyId>,
) -> ApiResult<StatusCode> {
    auth.require(Role::Admin)?;
    let mut tx = crate::db::begin(&state.pool).await?;
    let key = repo::get(&mut tx, auth.workspace_id, id).await?.ok_or(ApiError::NotFound("api key"))?;
    if key.revoked_at.is_some() {
        return Ok(StatusCode::NO_CONTENT);
    }
    if key.role == Role::Owner {
        auth.require(Role::Owner)?;
        if repo::count_live_owners(&mut tx, auth.workspace_id).await? <= 1 {
            return Err(ApiError::conflict("last_owner_key", "the last owner key of a workspace cannot be revoked"));
        }
    }
    repo::revoke(&mut tx, auth.workspace_id, id, state.clock.now()).await?;
    audit::record(
        &mut tx,
        auth.workspace_id,
        Actor::from(&auth),
        "api_key.revoke",
        "api_key",
        id,
        serde_json::json!({"prefix": key.prefix}),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
