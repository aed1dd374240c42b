//! `/v1/channels` and the public entry link `GET /c/{code}`.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use sqlx::types::Json as Stored;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::model::{self, Channel, ChannelStatus, CreateChannel, Strategy, Target, UpdateChannel};
use super::repo::{self, Row};
use super::service;
use super::visits::Visits;
use crate::audit::{self, Actor};
use crate::error::{on_constraint, ApiError, ApiResult, ErrorEnvelope};
use crate::http::auth::{Auth, Role};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, Peer};
use crate::http::pagination::{Page, PageParams};
use crate::ids::WorkspaceId;
use crate::state::AppState;

/// Routes of `/v1/channels`.
pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AppState: axum::extract::FromRef<S>,
    Visits: axum::extract::FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list_channels, create_channel))
        .routes(routes!(get_channel, update_channel, delete_channel))
        .routes(routes!(super::stats::get_channel_stats))
}

/// The public entry link (no key; limited per client address).
pub fn public_router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AppState: axum::extract::FromRef<S>,
    Visits: axum::extract::FromRef<S>,
{
    OpenApiRouter::new().routes(routes!(visit_channel))
}

fn view(r: Row, base: &str) -> Channel {
    Channel {
        id: r.id,
        name: r.name,
        source: r.source,
        target: r.target.0,
        capacity_per_group: r.capacity_per_group,
        strategy: r.strategy,
        link: format!("{base}/c/{}", r.code),
        code: r.code,
        status: r.status,
        full_since: r.full_since,
        created_at: r.created_at,
        updated_at: r.updated_at,
    }
}

fn base(state: &AppState) -> String {
    state.settings.public_url(state.settings.server.port)
}

fn name_taken(e: sqlx::Error) -> ApiError {
    on_constraint(e, |c| {
        (c == "channels_name_key").then(|| ApiError::conflict("name_taken", "a channel of this name exists"))
    })
}

/// 422 unless every group of the target is in the workspace.
async fn check_target(conn: &mut sqlx::PgConnection, ws: WorkspaceId, t: &Target) -> ApiResult<()> {
    if let Some(ids) = &t.group_ids {
        let found = repo::existing_groups(conn, ws, ids).await?;
        if found.len() != ids.len() {
            return Err(ApiError::unknown("target.group_ids", "a group is not in this workspace"));
        }
    }
    if let Some(l) = t.layer_id {
        crate::layers::repo::get(conn, ws, l)
            .await?
            .ok_or_else(|| ApiError::unknown("target.layer_id", "no such layer in this workspace"))?;
    }
    Ok(())
}

/// Channel filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ChannelQuery {
    pub status: Option<ChannelStatus>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    #[param(value_type = Option<uuid::Uuid>)]
    pub cursor: Option<String>,
}

/// Channel entry links, newest first.
#[utoipa::path(get, path = "/channels", tag = "channels", params(ChannelQuery),
    responses((status = 200, body = Page<Channel>), (status = 422, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn list_channels(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<ChannelQuery>,
) -> ApiResult<Json<Page<Channel>>> {
    let page = PageParams::parse(q.limit, q.cursor.as_deref())?;
    let mut conn = state.pool.acquire().await?;
    let rows = repo::list(&mut conn, auth.workspace_id, q.status, page.after, page.fetch_limit()).await?;
    let b = base(&state);
    Ok(Json(Page::from_rows(rows.into_iter().map(|r| view(r, &b)).collect(), page, |c| c.id)))
}

/// Make a channel entry link (operator): one stable link (for a poster's QR
/// code) that sends each visitor to a group of its target with room.
#[utoipa::path(post, path = "/channels", tag = "channels", request_body = CreateChannel,
    responses((status = 201, body = Channel), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope),
        (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn create_channel(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<CreateChannel>,
) -> ApiResult<(StatusCode, Json<Channel>)> {
    auth.require(Role::Operator)?;
    body.validate()?;
    let (ws, now) = (auth.workspace_id, state.clock.now());
    let mut tx = crate::db::begin(&state.pool).await?;
    check_target(&mut tx, ws, &body.target).await?;
    let row = Row {
        id: Uuid::now_v7(),
        name: body.name.trim().to_owned(),
        source: body.source,
        target: Stored(body.target),
        capacity_per_group: body.capacity_per_group.unwrap_or(200) as i32,
        strategy: body.strategy.unwrap_or(Strategy::FillInOrder),
        code: model::new_code().map_err(ApiError::Internal)?,
        status: body.status.unwrap_or(ChannelStatus::Active),
        full_since: None,
        created_at: now,
        updated_at: now,
        campaign_id: None,
        inviter_id: None,
    };
    repo::insert(&mut tx, ws, &row).await.map_err(name_taken)?;
    audit::record(&mut tx, ws, Actor::from(&auth), "channel.create", "channel", row.id, serde_json::json!({})).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(view(row, &base(&state)))))
}

/// One channel.
#[utoipa::path(get, path = "/channels/{id}", tag = "channels", params(("id" = Uuid, Path)),
    responses((status = 200, body = Channel), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn get_channel(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Channel>> {
    let mut conn = state.pool.acquire().await?;
    let r = repo::get(&mut conn, auth.workspace_id, id).await?.ok_or(ApiError::NotFound("channel"))?;
    Ok(Json(view(r, &base(&state))))
}

/// Change a channel (operator): name, source, target, capacity, strategy,
/// status. Its code and link stay.
#[utoipa::path(patch, path = "/channels/{id}", tag = "channels", params(("id" = Uuid, Path)),
    request_body = UpdateChannel,
    responses((status = 200, body = Channel), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope),
        (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn update_channel(
    State(state): State<AppState>,
    State(visits): State<Visits>,
    auth: Auth,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<UpdateChannel>,
) -> ApiResult<Json<Channel>> {
    auth.require(Role::Operator)?;
    body.validate()?;
    let (ws, now) = (auth.workspace_id, state.clock.now());
    let mut tx = crate::db::begin(&state.pool).await?;
    if let Some(t) = &body.target {
        check_target(&mut tx, ws, t).await?;
    }
    let r =
        repo::update(&mut tx, ws, id, &body, now).await.map_err(name_taken)?.ok_or(ApiError::NotFound("channel"))?;
    audit::record(&mut tx, ws, Actor::from(&auth), "channel.update", "channel", id, serde_json::json!({})).await?;
    tx.commit().await?;
    visits.codes.forget(&r.code);
    Ok(Json(view(r, &base(&state))))
}

/// Delete a channel (operator): its link answers 404 from then on (from
/// other instances within a second).
#[utoipa::path(delete, path = "/channels/{id}", tag = "channels", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn delete_channel(
    State(state): State<AppState>,
    State(visits): State<Visits>,
    auth: Auth,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    auth.require(Role::Operator)?;
    let ws = auth.workspace_id;
    let mut tx = crate::db::begin(&state.pool).await?;
    let code = repo::delete(&mut tx, ws, id).await?.ok_or(ApiError::NotFound("channel"))?;
    audit::record(&mut tx, ws, Actor::from(&auth), "channel.delete", "channel", id, serde_json::json!({})).await?;
    tx.commit().await?;
    visits.codes.forget(&code);
    Ok(StatusCode::NO_CONTENT)
}

const FULL_PAGE: &str = r#"<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>群已满 · The groups are full</title>
<style>body{font-family:system-ui,sans-serif;max-width:28rem;margin:20vh auto;padding:0 1rem;text-align:center;color:#333}
h1{font-size:1.4rem}p{color:#666}</style></head>
<body><h1>群已满 · The groups are full</h1>
<p>当前群成员已满，请稍后再来扫码，或联系工作人员。</p>
<p>Every group is full right now. Please scan again later or ask our staff.</p></body></html>
"#;

/// A channel's entry link: 302 to the invite link of the group it routes
/// to now (a group at capacity, archived, dismissed or without an invite
/// link is skipped); when none is left, a small bilingual page saying the
/// groups are full (and `channel.full` once per spell). No key; at most
/// `auth.channel_visits_per_minute` visits a minute per client address (429).
#[utoipa::path(get, path = "/c/{code}", tag = "channels", params(("code" = String, Path, description = "The channel's code")),
    responses(
        (status = 302, description = "To the chosen group's invite link", headers(("Location" = String))),
        (status = 200, description = "Every group is full", content_type = "text/html", body = String),
        (status = 404, body = ErrorEnvelope),
        (status = 429, body = ErrorEnvelope)))]
pub async fn visit_channel(
    State(state): State<AppState>,
    State(visits): State<Visits>,
    Peer(peer): Peer,
    headers: HeaderMap,
    ApiPath(code): ApiPath<String>,
) -> ApiResult<Response> {
    let addr = crate::users::service::client_address(&state.settings, &headers, peer).unwrap_or_default();
    if !visits.limiter.allow(&addr, state.settings.auth.channel_visits_per_minute) {
        return Err(ApiError::refused(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many visits; try again in a minute",
        ));
    }
    if !model::looks_like_code(&code) {
        return Err(ApiError::NotFound("channel"));
    }
    let visit = service::visit(&state.pool, &visits, &code, state.clock.now()).await.map_err(ApiError::Internal)?;
    let visit = visit.ok_or(ApiError::NotFound("channel"))?;
    visits.tally.count(&visit);
    match visit.to {
        Some((_, url)) => {
            Ok((StatusCode::FOUND, [(header::LOCATION, url), (header::CACHE_CONTROL, "no-store".into())])
                .into_response())
        }
        None => Ok(([(header::CACHE_CONTROL, "no-store")], Html(FULL_PAGE)).into_response()),
    }
}
