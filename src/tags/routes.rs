//! `/v1/tags`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::model::{CreateTag, Tag, UpdateTag};
use super::repo;
use crate::audit::{self, Actor};
use crate::error::{on_constraint, ApiError, ApiResult, ErrorEnvelope};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::http::pagination::{Page, PageParams};
use crate::ids::TagId;
use crate::keys::auth::Auth;
use crate::keys::model::Role;
use crate::state::AppState;

/// Routes of this feature.
pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    crate::state::AppState: axum::extract::FromRef<S>,
{
    OpenApiRouter::new().routes(routes!(list_tags, create_tag)).routes(routes!(get_tag, update_tag, delete_tag))
}

fn map_err(e: sqlx::Error) -> ApiError {
    on_constraint(e, |c| {
        (c == "tags_name_key").then(|| ApiError::conflict("already_exists", "a tag with this name exists"))
    })
}

/// Tag filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TagQuery {
    /// Substring of the name.
    pub q: Option<String>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    #[param(value_type = Option<uuid::Uuid>)]
    pub cursor: Option<String>,
}

/// List tags with their usage counts.
#[utoipa::path(get, path = "/tags", tag = "tags", params(TagQuery),
    responses((status = 200, body = Page<Tag>)), security(("bearer" = [])))]
pub async fn list_tags(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<TagQuery>,
) -> ApiResult<Json<Page<Tag>>> {
    let page = PageParams::parse(q.limit, q.cursor.as_deref())?;
    let mut conn = state.pool.acquire().await?;
    let rows = repo::list(&mut conn, auth.workspace_id, q.q.as_deref(), page.after, page.fetch_limit()).await?;
    Ok(Json(Page::from_rows(rows, page, |t| t.id.0)))
}

/// One tag.
#[utoipa::path(get, path = "/tags/{id}", tag = "tags", params(("id" = TagId, Path)),
    responses((status = 200, body = Tag), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn get_tag(State(state): State<AppState>, auth: Auth, ApiPath(id): ApiPath<TagId>) -> ApiResult<Json<Tag>> {
    let mut conn = state.pool.acquire().await?;
    Ok(Json(repo::get(&mut conn, auth.workspace_id, id).await?.ok_or(ApiError::NotFound("tag"))?))
}

/// Define a tag.
#[utoipa::path(post, path = "/tags", tag = "tags", request_body = CreateTag,
    responses((status = 201, body = Tag), (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn create_tag(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<CreateTag>,
) -> ApiResult<(StatusCode, Json<Tag>)> {
    auth.require(Role::Operator)?;
    body.validate()?;
    let mut tx = crate::db::begin(&state.pool).await?;
    let id = repo::insert(&mut tx, auth.workspace_id, &body).await.map_err(map_err)?;
    audit::record(&mut tx, auth.workspace_id, Actor::from(&auth), "tag.create", "tag", id, serde_json::json!({}))
        .await?;
    let tag = repo::get(&mut tx, auth.workspace_id, id).await?.ok_or(ApiError::NotFound("tag"))?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(tag)))
}

/// Rename or recolour a tag.
#[utoipa::path(patch, path = "/tags/{id}", tag = "tags", params(("id" = TagId, Path)), request_body = UpdateTag,
    responses((status = 200, body = Tag), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn update_tag(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<TagId>,
    ApiJson(body): ApiJson<UpdateTag>,
) -> ApiResult<Json<Tag>> {
    auth.require(Role::Operator)?;
    body.validate()?;
    let mut tx = crate::db::begin(&state.pool).await?;
    if !repo::update(&mut tx, auth.workspace_id, id, &body).await.map_err(map_err)? {
        return Err(ApiError::NotFound("tag"));
    }
    audit::record(&mut tx, auth.workspace_id, Actor::from(&auth), "tag.update", "tag", id, serde_json::json!({}))
        .await?;
    let tag = repo::get(&mut tx, auth.workspace_id, id).await?.ok_or(ApiError::NotFound("tag"))?;
    tx.commit().await?;
    Ok(Json(tag))
}

/// Delete a tag (removes it from every group and member).
#[utoipa::path(delete, path = "/tags/{id}", tag = "tags", params(("id" = TagId, Path)),
    responses((status = 204), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn delete_tag(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<TagId>,
) -> ApiResult<StatusCode> {
    auth.require(Role::Operator)?;
    let mut tx = crate::db::begin(&state.pool).await?;
    if !repo::delete(&mut tx, auth.workspace_id, id).await? {
        return Err(ApiError::NotFound("tag"));
    }
    audit::record(&mut tx, auth.workspace_id, Actor::from(&auth), "tag.delete", "tag", id, serde_json::json!({}))
        .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
