//! `/v1/contents`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::model::{self, Content, ContentKind, CreateContent, Message, PreviewQuery, UpdateContent};
use super::repo;
use super::template::{self, Context};
use crate::audit::{self, Actor};
use crate::error::{on_constraint, ApiError, ApiResult, ErrorEnvelope};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::http::pagination::{Page, PageParams};
use crate::ids::{ContentId, WorkspaceId};
use crate::keys::auth::Auth;
use crate::keys::model::Role;
use crate::state::AppState;

/// Routes of this feature.
pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    crate::state::AppState: axum::extract::FromRef<S>,
    super::LiveVars: axum::extract::FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list_contents, create_content))
        .routes(routes!(get_content, update_content, delete_content))
        .routes(routes!(preview_content))
}

fn map_err(e: sqlx::Error) -> ApiError {
    on_constraint(e, |c| match c {
        "contents_name_key" => Some(ApiError::conflict("already_exists", "a content with this name exists")),
        "sop_steps_content_fkey" => Some(ApiError::conflict("content_in_use", "SOP plan steps use this content")),
        _ => None,
    })
}

/// Content filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ContentQuery {
    pub kind: Option<ContentKind>,
    /// Substring of the name.
    pub q: Option<String>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    #[param(value_type = Option<uuid::Uuid>)]
    pub cursor: Option<String>,
}

/// List contents.
#[utoipa::path(get, path = "/contents", tag = "contents", params(ContentQuery),
    responses((status = 200, body = Page<Content>), (status = 422, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn list_contents(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<ContentQuery>,
) -> ApiResult<Json<Page<Content>>> {
    let page = PageParams::parse(q.limit, q.cursor.as_deref())?;
    let mut conn = state.pool.acquire().await?;
    let rows = repo::list(&mut conn, auth.workspace_id, q.kind, q.q.as_deref(), page.after, page.fetch_limit()).await?;
    Ok(Json(Page::from_rows(rows, page, |c| c.id.0)))
}

/// One content.
#[utoipa::path(get, path = "/contents/{id}", tag = "contents", params(("id" = ContentId, Path)),
    responses((status = 200, body = Content), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn get_content(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<ContentId>,
) -> ApiResult<Json<Content>> {
    let mut conn = state.pool.acquire().await?;
    Ok(Json(repo::get(&mut conn, auth.workspace_id, id).await?.ok_or(ApiError::NotFound("content"))?))
}

async fn save(state: &AppState, auth: &Auth, c: Content, action: &str) -> ApiResult<Content> {
    let ws = auth.workspace_id;
    let mut tx = crate::db::begin(&state.pool).await?;
    repo::upsert(&mut tx, ws, &c).await.map_err(map_err)?;
    audit::record(&mut tx, ws, Actor::from(auth), action, "content", c.id, serde_json::json!({"kind": c.kind})).await?;
    let saved = repo::get(&mut tx, ws, c.id).await?.ok_or(ApiError::NotFound("content"))?;
    tx.commit().await?;
    Ok(saved)
}

/// Create a content (422 naming a field whose template cannot render).
#[utoipa::path(post, path = "/contents", tag = "contents", request_body = CreateContent,
    responses((status = 201, body = Content), (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn create_content(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<CreateContent>,
) -> ApiResult<(StatusCode, Json<Content>)> {
    auth.require(Role::Operator)?;
    let fields = body.body();
    model::validate(&body.name, body.kind, &fields)?;
    let now = state.clock.now();
    let c = Content {
        id: ContentId::new(),
        name: body.name.trim().to_owned(),
        kind: body.kind,
        variables: vec![],
        body: fields,
        created_at: now,
        updated_at: now,
    };
    Ok((StatusCode::CREATED, Json(save(&state, &auth, c, "content.create").await?)))
}

/// Change a content; SOP steps using it send the new version from their next slot.
#[utoipa::path(patch, path = "/contents/{id}", tag = "contents", params(("id" = ContentId, Path)), request_body = UpdateContent,
    responses((status = 200, body = Content), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope),
        (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn update_content(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<ContentId>,
    ApiJson(body): ApiJson<UpdateContent>,
) -> ApiResult<Json<Content>> {
    auth.require(Role::Operator)?;
    let mut conn = state.pool.acquire().await?;
    let mut c = repo::get(&mut conn, auth.workspace_id, id).await?.ok_or(ApiError::NotFound("content"))?;
    drop(conn);
    c.name = body.name.as_deref().map(|n| n.trim().to_owned()).unwrap_or(c.name);
    c.kind = body.kind.unwrap_or(c.kind);
    body.apply(&mut c.body);
    model::validate_change(&c.name, c.kind, &c.body)?;
    Ok(Json(save(&state, &auth, c, "content.update").await?))
}

/// Delete a content no SOP step uses (409 otherwise).
#[utoipa::path(delete, path = "/contents/{id}", tag = "contents", params(("id" = ContentId, Path)),
    responses((status = 204), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn delete_content(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<ContentId>,
) -> ApiResult<StatusCode> {
    auth.require(Role::Operator)?;
    let ws = auth.workspace_id;
    let mut tx = crate::db::begin(&state.pool).await?;
    if !repo::delete(&mut tx, ws, id).await.map_err(map_err)? {
        return Err(ApiError::NotFound("content"));
    }
    audit::record(&mut tx, ws, Actor::from(&auth), "content.delete", "content", id, serde_json::json!({})).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A rendered template.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ContentPreview)]
pub struct Preview {
    pub content_id: ContentId,
    /// The timezone `date`/`time` were read in.
    pub timezone: String,
    /// The local date-time the message was rendered for.
    pub local_time: String,
    pub message: Message,
}

/// Render a content for a group, member and campaign, sending nothing.
#[utoipa::path(get, path = "/contents/{id}/preview", tag = "contents", params(("id" = ContentId, Path), PreviewQuery),
    responses((status = 200, body = Preview), (status = 404, body = ErrorEnvelope),
        (status = 409, body = ErrorEnvelope, description = "`record_required`: the content uses a group's or \
            campaign's variables and none was named"),
        (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn preview_content(
    State(state): State<AppState>,
    State(live): State<super::LiveVars>,
    auth: Auth,
    ApiPath(id): ApiPath<ContentId>,
    ApiQuery(q): ApiQuery<PreviewQuery>,
) -> ApiResult<Json<Preview>> {
    let ws = auth.workspace_id;
    let mut conn = state.pool.acquire().await?;
    let content = repo::get(&mut conn, ws, id).await?.ok_or(ApiError::NotFound("content"))?;
    let now = state.clock.now();
    let (mut ctx, timezone) = preview_context(&mut conn, ws, &content, &q, now).await?;
    if let Some(c) = q.campaign_id {
        live.fill(&mut conn, ws, c, crate::clock::zone(&timezone), now, &mut ctx).await?;
    }
    let local_time = ctx.local.map(|l| l.format("%Y-%m-%dT%H:%M").to_string()).unwrap_or_default();
    let message = Message { kind: content.kind, body: content.body.render(&ctx) };
    Ok(Json(Preview { content_id: id, timezone, local_time, message }))
}

/// Loads what the content's variables need; 422 naming a missing or unknown parameter.
async fn preview_context(
    conn: &mut sqlx::PgConnection,
    ws: WorkspaceId,
    content: &Content,
    q: &PreviewQuery,
    now: chrono::DateTime<chrono::Utc>,
) -> ApiResult<(Context, String)> {
    let uses = |prefix: &str| content.variables.iter().any(|v| v.starts_with(prefix));
    let unknown = |f: &str| ApiError::unknown(f, "no such record in this workspace");
    // The content's stored variables decide which records a preview needs.
    let required = |f: &str| ApiError::conflict("record_required", format!("the content uses {f}'s variables"));
    let mut ctx = Context::default();
    let mut tz = crate::workspaces::repo::get(conn, ws).await?.map(|w| w.timezone).unwrap_or_default();
    if let Some(g) = q.group_id {
        let vars = repo::group_vars(conn, ws, &[g.0]).await?.pop().ok_or_else(|| unknown("group_id"))?;
        vars.fill(&mut ctx);
        tz = vars.timezone;
    } else if uses("group.") {
        return Err(required("group_id"));
    }
    if let Some(m) = q.member_id {
        ctx.member_display_name =
            crate::members::repo::display_names(conn, ws, &[m]).await?.pop().ok_or_else(|| unknown("member_id"))?.1;
    }
    if let Some(c) = q.campaign_id {
        repo::campaign_vars(conn, ws, c).await?.ok_or_else(|| unknown("campaign_id"))?.fill(&mut ctx);
    } else if content.variables.iter().any(|v| template::needs_campaign(v)) {
        return Err(required("campaign_id"));
    }
    ctx.local = Some(match &q.at {
        Some(at) => crate::clock::parse_local(at)
            .ok_or_else(|| ApiError::field("at", "invalid", "must be a local date-time YYYY-MM-DDTHH:MM"))?,
        None => now.with_timezone(&crate::clock::zone(&tz)).naive_local(),
    });
    Ok((ctx, tz))
}
