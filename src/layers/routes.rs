//! `/v1/layers`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use sqlx::PgConnection;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::model::{CreateLayer, Layer, LayerSelector, UpdateLayer};
use super::repo;
use crate::audit::{self, Actor};
use crate::error::{on_constraint, ApiError, ApiResult, ErrorEnvelope};
use crate::groups::model::Group;
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::http::pagination::{Page, PageParams, PageQuery};
use crate::ids::{LayerId, WorkspaceId};
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
        .routes(routes!(list_layers, create_layer))
        .routes(routes!(get_layer, update_layer, delete_layer))
        .routes(routes!(list_layer_groups))
}

fn map_err(e: sqlx::Error) -> ApiError {
    on_constraint(e, |c| match c {
        "layers_name_key" => Some(ApiError::conflict("already_exists", "a layer with this name exists")),
        "campaigns_target_layer_fkey" => Some(ApiError::conflict("layer_in_use", "campaigns target this layer")),
        "sop_plans_layer_fkey" => Some(ApiError::conflict("layer_in_use", "SOP plans target this layer")),
        _ => None,
    })
}

/// 404 naming every explicit group id that is not a group of the workspace.
pub async fn check_group_ids(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    s: &LayerSelector,
    field: &str,
) -> ApiResult<()> {
    let mut errors = Vec::new();
    for (name, ids) in [("group_ids", &s.group_ids), ("exclude_group_ids", &s.exclude_group_ids)] {
        errors.extend(crate::groups::unknown_ids(conn, ws, ids, &format!("{field}.{name}")).await?);
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Unknown(errors))
    }
}

/// List layers.
#[utoipa::path(get, path = "/layers", tag = "layers", params(PageQuery),
    responses((status = 200, body = Page<Layer>)), security(("bearer" = [])))]
pub async fn list_layers(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<Layer>>> {
    let page = PageParams::parse(q.limit, q.cursor.as_deref())?;
    let mut conn = state.pool.acquire().await?;
    let rows = repo::list(&mut conn, auth.workspace_id, page.after, page.fetch_limit()).await?;
    Ok(Json(Page::from_rows(rows, page, |l| l.id.0)))
}

/// One layer.
#[utoipa::path(get, path = "/layers/{id}", tag = "layers", params(("id" = LayerId, Path)),
    responses((status = 200, body = Layer), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn get_layer(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<LayerId>,
) -> ApiResult<Json<Layer>> {
    let mut conn = state.pool.acquire().await?;
    Ok(Json(repo::get(&mut conn, auth.workspace_id, id).await?.ok_or(ApiError::NotFound("layer"))?))
}

/// Save a group selector as a layer.
#[utoipa::path(post, path = "/layers", tag = "layers", request_body = CreateLayer,
    responses((status = 201, body = Layer), (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn create_layer(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<CreateLayer>,
) -> ApiResult<(StatusCode, Json<Layer>)> {
    auth.require(Role::Operator)?;
    body.validate()?;
    let mut tx = crate::db::begin(&state.pool).await?;
    check_group_ids(&mut tx, auth.workspace_id, &body.selector, "selector").await?;
    let id = repo::insert(&mut tx, auth.workspace_id, body.name.trim(), body.description.trim(), &body.selector)
        .await
        .map_err(map_err)?;
    audit::record(&mut tx, auth.workspace_id, Actor::from(&auth), "layer.create", "layer", id, serde_json::json!({}))
        .await?;
    let layer = repo::get(&mut tx, auth.workspace_id, id).await?.ok_or(ApiError::NotFound("layer"))?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(layer)))
}

/// Change a layer (a new selector replaces the old one).
#[utoipa::path(patch, path = "/layers/{id}", tag = "layers", params(("id" = LayerId, Path)), request_body = UpdateLayer,
    responses((status = 200, body = Layer), (status = 404, body = ErrorEnvelope),
        (status = 409, body = ErrorEnvelope, description = "Another layer has this name (`already_exists`)"),
        (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn update_layer(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<LayerId>,
    ApiJson(body): ApiJson<UpdateLayer>,
) -> ApiResult<Json<Layer>> {
    auth.require(Role::Operator)?;
    body.validate()?;
    let mut tx = crate::db::begin(&state.pool).await?;
    let mut layer = repo::get(&mut tx, auth.workspace_id, id).await?.ok_or(ApiError::NotFound("layer"))?;
    if let Some(s) = body.selector {
        check_group_ids(&mut tx, auth.workspace_id, &s, "selector").await?;
        layer.selector = s;
    }
    if let Some(n) = body.name {
        layer.name = n.trim().to_owned();
    }
    if let Some(d) = body.description {
        layer.description = d.trim().to_owned();
    }
    repo::save(&mut tx, auth.workspace_id, &layer).await.map_err(map_err)?;
    audit::record(&mut tx, auth.workspace_id, Actor::from(&auth), "layer.update", "layer", id, serde_json::json!({}))
        .await?;
    let layer = repo::get(&mut tx, auth.workspace_id, id).await?.ok_or(ApiError::NotFound("layer"))?;
    tx.commit().await?;
    Ok(Json(layer))
}

/// Delete a layer no campaign targets (409 otherwise).
#[utoipa::path(delete, path = "/layers/{id}", tag = "layers", params(("id" = LayerId, Path)),
    responses((status = 204), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn delete_layer(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<LayerId>,
) -> ApiResult<StatusCode> {
    auth.require(Role::Operator)?;
    let mut tx = crate::db::begin(&state.pool).await?;
    if !repo::delete(&mut tx, auth.workspace_id, id).await.map_err(map_err)? {
        return Err(ApiError::NotFound("layer"));
    }
    audit::record(&mut tx, auth.workspace_id, Actor::from(&auth), "layer.delete", "layer", id, serde_json::json!({}))
        .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The groups a layer holds right now.
#[utoipa::path(get, path = "/layers/{id}/groups", tag = "layers", params(("id" = LayerId, Path), PageQuery),
    responses((status = 200, body = Page<Group>), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn list_layer_groups(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<LayerId>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<Group>>> {
    let page = PageParams::parse(q.limit, q.cursor.as_deref())?;
    let mut conn = state.pool.acquire().await?;
    let layer = repo::get(&mut conn, auth.workspace_id, id).await?.ok_or(ApiError::NotFound("layer"))?;
    let filter = layer.selector.to_filter();
    let rows = crate::groups::repo::list(&mut conn, auth.workspace_id, &filter, page.after, page.fetch_limit()).await?;
    Ok(Json(Page::from_rows(rows, page, |g| g.id.0)))
}
