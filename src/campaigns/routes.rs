//! `/v1/campaigns`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use sqlx::PgConnection;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::model::{
    can_transition, check_period, Campaign, CampaignKind, CampaignStatus, CampaignTarget, ChangeStatus, CreateCampaign,
    Scene, UpdateCampaign,
};
use super::repo;
use crate::audit::{self, Actor};
use crate::error::{on_constraint, ApiError, ApiResult, ErrorEnvelope};
use crate::http::csv::{self, Format, EXPORT_PAGE};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::http::pagination::{Page, PageParams};
use crate::ids::{CampaignId, WorkspaceId};
use crate::keys::auth::Auth;
use crate::keys::model::Role;
use crate::state::AppState;
use crate::validate::Checks;

/// Routes of this feature.
pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    crate::state::AppState: axum::extract::FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list_campaigns, create_campaign))
        .routes(routes!(get_campaign, update_campaign, delete_campaign))
        .routes(routes!(change_campaign_status))
}

fn map_err(e: sqlx::Error) -> ApiError {
    on_constraint(e, |c| match c {
        "campaigns_tracking_code_key" => {
            Some(ApiError::conflict("already_exists", "a campaign with this tracking_code exists"))
        }
        // Only one end given, and it does not fit the other one stored.
        // Check-ins hold on to their campaign: it can be ended, not deleted.
        "check_in_members_campaign_fkey" => {
            Some(ApiError::conflict("in_use", "members checked in to this campaign; end or cancel it instead"))
        }
        "campaigns_period_check" => {
            Some(ApiError::conflict("before_start", "ends_at must be after starts_at (as stored, where not given)"))
        }
        _ => None,
    })
}

/// 404 unless the target's layer and groups belong to the workspace.
async fn check_target(conn: &mut PgConnection, ws: WorkspaceId, t: Option<&CampaignTarget>) -> ApiResult<()> {
    let Some(t) = t else { return Ok(()) };
    if let Some(l) = t.layer_id {
        if crate::layers::repo::get(conn, ws, l).await?.is_none() {
            return Err(ApiError::unknown("target.layer_id", "no such layer in this workspace"));
        }
    }
    if let Some(ids) = &t.group_ids {
        let errors = crate::groups::unknown_ids(conn, ws, ids, "target.group_ids").await?;
        if !errors.is_empty() {
            return Err(ApiError::Unknown(errors));
        }
    }
    Ok(())
}

/// 404 unless the records the settings name are in the workspace.
async fn check_settings(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    kind: CampaignKind,
    settings: &serde_json::Value,
) -> ApiResult<()> {
    if kind == CampaignKind::CheckIn {
        let s = super::settings::CheckInSettings::from_stored(settings);
        if let Some(content) = s.reply_content_id {
            if crate::contents::repo::get(conn, ws, content).await?.is_none() {
                return Err(ApiError::unknown("settings.reply_content_id", "no such content in this workspace"));
            }
        }
    }
    Ok(())
}

/// Campaign filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CampaignQuery {
    pub status: Option<CampaignStatus>,
    pub scene: Option<Scene>,
    pub kind: Option<CampaignKind>,
    /// Substring of the name.
    pub q: Option<String>,
    pub tracking_code: Option<String>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    #[param(value_type = Option<uuid::Uuid>)]
    pub cursor: Option<String>,
    /// `csv`: every matching row as one CSV download (`limit` and `cursor` do not apply).
    #[param(inline)]
    pub format: Option<Format>,
}

/// List campaigns.
#[utoipa::path(get, path = "/campaigns", tag = "campaigns", params(CampaignQuery),
    responses((status = 200, body = Page<Campaign>), (status = 422, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn list_campaigns(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<CampaignQuery>,
) -> ApiResult<Response> {
    let page = PageParams::parse(q.limit, q.cursor.as_deref())?;
    let f = repo::Filter { status: q.status, scene: q.scene, kind: q.kind, q: q.q, tracking_code: q.tracking_code };
    if q.format == Some(Format::Csv) {
        let (pool, ws) = (state.pool.clone(), auth.workspace_id);
        let fetch = move |after| {
            let (pool, f) = (pool.clone(), f.clone());
            async move { Ok(repo::list(&mut *pool.acquire().await?, ws, &f, after, EXPORT_PAGE).await?) }
        };
        return csv::export("campaigns", CSV_COLUMNS, fetch, |c: &Campaign| c.id.0, csv_row).await;
    }
    let mut conn = state.pool.acquire().await?;
    let rows = repo::list(&mut conn, auth.workspace_id, &f, page.after, page.fetch_limit()).await?;
    Ok(Json(Page::from_rows(rows, page, |c| c.id.0)).into_response())
}

/// One campaign.
#[utoipa::path(get, path = "/campaigns/{id}", tag = "campaigns", params(("id" = CampaignId, Path)),
    responses((status = 200, body = Campaign), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn get_campaign(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<CampaignId>,
) -> ApiResult<Json<Campaign>> {
    let mut conn = state.pool.acquire().await?;
    Ok(Json(repo::get(&mut conn, auth.workspace_id, id, false).await?.ok_or(ApiError::NotFound("campaign"))?))
}

/// Create a campaign (as a draft).
#[utoipa::path(post, path = "/campaigns", tag = "campaigns", request_body = CreateCampaign,
    responses((status = 201, body = Campaign), (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn create_campaign(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<CreateCampaign>,
) -> ApiResult<(StatusCode, Json<Campaign>)> {
    auth.require(Role::Operator)?;
    body.validate()?;
    let ws = auth.workspace_id;
    let now = state.clock.now();
    let campaign = body.into_campaign(now)?;
    let mut tx = crate::db::begin(&state.pool).await?;
    check_target(&mut tx, ws, campaign.target.as_ref()).await?;
    check_settings(&mut tx, ws, campaign.kind, &campaign.settings).await?;
    repo::insert(&mut tx, ws, &campaign).await.map_err(map_err)?;
    repo::set_target(&mut tx, ws, campaign.id, campaign.target.as_ref()).await?;
    audit::record(
        &mut tx,
        ws,
        Actor::from(&auth),
        "campaign.create",
        "campaign",
        campaign.id,
        serde_json::json!({"tracking_code": campaign.tracking_code}),
    )
    .await?;
    let saved = repo::get(&mut tx, ws, campaign.id, false).await?.ok_or(ApiError::NotFound("campaign"))?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(saved)))
}

/// Change a campaign that has not ended or been cancelled.
#[utoipa::path(patch, path = "/campaigns/{id}", tag = "campaigns", params(("id" = CampaignId, Path)), request_body = UpdateCampaign,
    responses((status = 200, body = Campaign), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope),
        (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn update_campaign(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<CampaignId>,
    ApiJson(body): ApiJson<UpdateCampaign>,
) -> ApiResult<Json<Campaign>> {
    auth.require(Role::Operator)?;
    body.validate()?;
    let ws = auth.workspace_id;
    let mut tx = crate::db::begin(&state.pool).await?;
    let mut c = repo::get(&mut tx, ws, id, true).await?.ok_or(ApiError::NotFound("campaign"))?;
    if matches!(c.status, CampaignStatus::Ended | CampaignStatus::Cancelled) {
        return Err(ApiError::conflict("campaign_closed", "an ended or cancelled campaign cannot be changed"));
    }
    if body.tracking_code.as_ref().is_some_and(|t| *t != c.tracking_code) && c.status != CampaignStatus::Draft {
        return Err(ApiError::conflict("tracking_code_locked", "the tracking code can change only while a draft"));
    }
    crate::http::patch::apply(&mut c.starts_at, body.starts_at);
    crate::http::patch::apply(&mut c.ends_at, body.ends_at);
    crate::http::patch::apply(&mut c.link, body.link);
    // The request is well-formed (a period given whole was checked above):
    // one end that does not fit the other stored is a conflict.
    let mut checks = Checks::new();
    check_period(&mut checks, c.starts_at, c.ends_at);
    checks.finish_as_conflict("before_start")?;
    c.name = body.name.map(|n| n.trim().to_owned()).unwrap_or(c.name);
    c.description = body.description.map(|d| d.trim().to_owned()).unwrap_or(c.description);
    c.tracking_code = body.tracking_code.unwrap_or(c.tracking_code);
    if let Some(settings) = body.settings {
        c.settings = super::settings::normalize(c.kind, Some(settings))?;
    }
    check_settings(&mut tx, ws, c.kind, &c.settings).await?;
    repo::save(&mut tx, ws, &c).await.map_err(map_err)?;
    if let Some(target) = body.target {
        check_target(&mut tx, ws, target.as_ref()).await?;
        repo::set_target(&mut tx, ws, id, target.as_ref()).await?;
    }
    audit::record(&mut tx, ws, Actor::from(&auth), "campaign.update", "campaign", id, serde_json::json!({})).await?;
    let saved = repo::get(&mut tx, ws, id, false).await?.ok_or(ApiError::NotFound("campaign"))?;
    tx.commit().await?;
    Ok(Json(saved))
}

/// Move a campaign through its lifecycle (409 for an illegal transition).
#[utoipa::path(post, path = "/campaigns/{id}/status", tag = "campaigns", params(("id" = CampaignId, Path)), request_body = ChangeStatus,
    responses((status = 200, body = Campaign), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope),
        (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn change_campaign_status(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<CampaignId>,
    ApiJson(body): ApiJson<ChangeStatus>,
) -> ApiResult<Json<Campaign>> {
    auth.require(Role::Operator)?;
    let ws = auth.workspace_id;
    let now = state.clock.now();
    let mut tx = crate::db::begin(&state.pool).await?;
    let mut c = repo::get(&mut tx, ws, id, true).await?.ok_or(ApiError::NotFound("campaign"))?;
    let from = c.status;
    if !can_transition(from, body.status) {
        return Err(ApiError::conflict(
            "invalid_transition",
            format!("a {from:?} campaign cannot become {:?}", body.status).to_lowercase(),
        ));
    }
    match body.status {
        CampaignStatus::Scheduled if c.starts_at.is_none_or(|s| s <= now) => {
            return Err(ApiError::field("starts_at", "required", "scheduling needs a starts_at in the future"));
        }
        CampaignStatus::Running if c.starts_at.is_none_or(|s| s > now) => c.starts_at = Some(now),
        CampaignStatus::Ended | CampaignStatus::Cancelled if c.ends_at.is_none_or(|e| e > now) => {
            c.ends_at = Some(now.max(c.starts_at.unwrap_or(now) + chrono::Duration::seconds(1)));
        }
        _ => {}
    }
    c.status = body.status;
    repo::save(&mut tx, ws, &c).await.map_err(map_err)?;
    audit::record(
        &mut tx,
        ws,
        Actor::from(&auth),
        "campaign.status",
        "campaign",
        id,
        serde_json::json!({"from": from, "to": body.status}),
    )
    .await?;
    let saved = repo::get(&mut tx, ws, id, false).await?.ok_or(ApiError::NotFound("campaign"))?;
    tx.commit().await?;
    Ok(Json(saved))
}

/// Delete a draft campaign (others are ended or cancelled instead: 409).
#[utoipa::path(delete, path = "/campaigns/{id}", tag = "campaigns", params(("id" = CampaignId, Path)),
    responses((status = 204), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn delete_campaign(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<CampaignId>,
) -> ApiResult<StatusCode> {
    auth.require(Role::Operator)?;
    let mut tx = crate::db::begin(&state.pool).await?;
    let c = repo::get(&mut tx, auth.workspace_id, id, true).await?.ok_or(ApiError::NotFound("campaign"))?;
    if c.status != CampaignStatus::Draft {
        return Err(ApiError::conflict("not_a_draft", "only draft campaigns can be deleted; cancel it instead"));
    }
    repo::delete(&mut tx, auth.workspace_id, id).await.map_err(|e| {
        on_constraint(e, |c| {
            let what = match c {
                "sop_plans_campaign_fkey" => "SOP plans",
                "coupon_templates_campaign_fkey" => "coupon templates",
                "flash_sales_campaign_fkey" => "flash sales",
                "group_buys_campaign_fkey" => "group-buys",
                "bargains_campaign_fkey" => "bargains",
                "check_in_members_campaign_fkey" => "check-ins",
                _ => return None,
            };
            Some(ApiError::conflict("campaign_in_use", format!("{what} use this campaign")))
        })
    })?;
    audit::record(
        &mut tx,
        auth.workspace_id,
        Actor::from(&auth),
        "campaign.delete",
        "campaign",
        id,
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

const CSV_COLUMNS: &[&str] =
    &["id", "name", "kind", "scene", "status", "starts_at", "ends_at", "tracking_code", "link", "created_at"];

fn csv_row(c: &Campaign) -> Vec<String> {
    vec![
        c.id.to_string(),
        c.name.clone(),
        csv::word(&c.kind),
        csv::word(&c.scene),
        csv::word(&c.status),
        csv::cell(c.starts_at.map(|t| t.to_rfc3339())),
        csv::cell(c.ends_at.map(|t| t.to_rfc3339())),
        c.tracking_code.clone(),
        csv::cell(c.link.as_ref()),
        c.created_at.to_rfc3339(),
    ]
}
