//! Invite codes, referrals and their decisions, the leaderboard and the
//! referral tree.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use sqlx::types::Json as Stored;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::model::{
    CreateInviteCode, InviteCode, Leaderboard, LeaderboardQuery, LeaderboardRow, Reason, Referral, ReferralQuery,
    ReferralStatus,
};
use super::{repo, service, tree};
use crate::audit::{self, Actor};
use crate::campaigns::model::Campaign;
use crate::channels::model::{ChannelStatus, Strategy, Target};
use crate::channels::repo::Row as ChannelRow;
use crate::error::{ApiError, ApiResult, ErrorEnvelope};
use crate::events::model::JoinSource;
use crate::events::Ingestion;
use crate::http::auth::{Auth, Role};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::http::pagination::{Page, PageParams};
use crate::ids::{CampaignId, WorkspaceId};
use crate::state::AppState;

/// Routes of this feature.
pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AppState: axum::extract::FromRef<S>,
    Ingestion: axum::extract::FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(create_invite_code))
        .routes(routes!(list_campaign_referrals))
        .routes(routes!(list_referrals))
        .routes(routes!(get_referral))
        .routes(routes!(approve_referral))
        .routes(routes!(reject_referral))
        .routes(routes!(get_leaderboard))
        .routes(routes!(tree::get_referral_tree))
}

async fn campaign(conn: &mut sqlx::PgConnection, ws: WorkspaceId, id: CampaignId) -> ApiResult<Campaign> {
    crate::campaigns::repo::get(conn, ws, id, false).await?.ok_or(ApiError::NotFound("campaign"))
}

async fn invite_campaign(conn: &mut sqlx::PgConnection, ws: WorkspaceId, id: CampaignId) -> ApiResult<Campaign> {
    let c = campaign(conn, ws, id).await?;
    if !service::invites(c.kind) {
        return Err(ApiError::conflict("no_invites", "only referral and lottery campaigns have invite codes"));
    }
    Ok(c)
}

/// A member's invite code and link for a referral or lottery campaign:
/// made on the first call (201), the same one after (200).
#[utoipa::path(post, path = "/campaigns/{id}/invite-codes", tag = "referrals", params(("id" = CampaignId, Path)),
    request_body = CreateInviteCode,
    responses((status = 201, body = InviteCode), (status = 200, body = InviteCode), (status = 404, body = ErrorEnvelope),
        (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn create_invite_code(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<CampaignId>,
    ApiJson(body): ApiJson<CreateInviteCode>,
) -> ApiResult<(StatusCode, Json<InviteCode>)> {
    auth.require(Role::Operator)?;
    let (ws, now) = (auth.workspace_id, state.clock.now());
    let mut tx = crate::db::begin(&state.pool).await?;
    let c = invite_campaign(&mut tx, ws, id).await?;
    let m = crate::members::repo::get(&mut tx, ws, body.member_id)
        .await?
        .filter(|m| m.erased_at.is_none())
        .ok_or_else(|| ApiError::unknown("member_id", "no such member in this workspace"))?;
    let row = ChannelRow {
        id: Uuid::now_v7(),
        name: format!("invite · {}", c.name),
        source: JoinSource::InviteLink,
        target: Stored(Target { group_ids: None, layer_id: None }),
        capacity_per_group: service::rules(&c).capacity_per_group as i32,
        strategy: Strategy::FillInOrder,
        code: crate::channels::model::new_code().map_err(ApiError::Internal)?,
        status: ChannelStatus::Active,
        full_since: None,
        created_at: now,
        updated_at: now,
        campaign_id: Some(c.id.0),
        inviter_id: Some(m.id.0),
    };
    let (row, made) = crate::channels::repo::upsert_invite(&mut tx, ws, &row).await?;
    if made {
        let detail = serde_json::json!({"campaign_id": c.id, "member_id": m.id});
        audit::record(&mut tx, ws, Actor::from(&auth), "invite_code.create", "channel", row.id, detail).await?;
    }
    tx.commit().await?;
    let base = state.settings.public_url(state.settings.server.port);
    let code = InviteCode {
        campaign_id: c.id.0,
        member_id: m.id,
        link: format!("{base}/c/{}", row.code),
        code: row.code,
        created_at: row.created_at,
    };
    Ok((if made { StatusCode::CREATED } else { StatusCode::OK }, Json(code)))
}

async fn page(state: &AppState, ws: WorkspaceId, f: repo::Filter, q: &ReferralQuery) -> ApiResult<Page<Referral>> {
    let page = PageParams::parse(q.limit, q.cursor.as_deref())?;
    let mut conn = state.pool.acquire().await?;
    let rows = repo::list(&mut conn, ws, f, page.after, page.fetch_limit()).await?;
    Ok(Page::from_rows(rows, page, |r| r.id))
}

/// A campaign's referrals, newest first.
#[utoipa::path(get, path = "/campaigns/{id}/referrals", tag = "referrals", params(("id" = CampaignId, Path), ReferralQuery),
    responses((status = 200, body = Page<Referral>), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn list_campaign_referrals(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<CampaignId>,
    ApiQuery(q): ApiQuery<ReferralQuery>,
) -> ApiResult<Json<Page<Referral>>> {
    let ws = auth.workspace_id;
    let mut conn = state.pool.acquire().await?;
    campaign(&mut conn, ws, id).await?;
    drop(conn);
    let f = repo::Filter { campaign: Some(id.0), inviter: q.inviter_id, invitee: q.invitee_id, status: q.status };
    Ok(Json(page(&state, ws, f, &q).await?))
}

/// Every referral of the workspace, newest first (with those of no
/// campaign: another workspace's codes).
#[utoipa::path(get, path = "/referrals", tag = "referrals", params(ReferralQuery),
    responses((status = 200, body = Page<Referral>), (status = 422, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn list_referrals(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<ReferralQuery>,
) -> ApiResult<Json<Page<Referral>>> {
    let f = repo::Filter { campaign: None, inviter: q.inviter_id, invitee: q.invitee_id, status: q.status };
    Ok(Json(page(&state, auth.workspace_id, f, &q).await?))
}

/// One referral.
#[utoipa::path(get, path = "/referrals/{id}", tag = "referrals", params(("id" = Uuid, Path)),
    responses((status = 200, body = Referral), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn get_referral(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Referral>> {
    let mut conn = state.pool.acquire().await?;
    Ok(Json(repo::get(&mut conn, auth.workspace_id, id, false).await?.ok_or(ApiError::NotFound("referral"))?))
}

/// Approve a flagged referral: it qualifies (over the daily cap) and the
/// inviter's rewards follow. Approving a qualified one answers it as is.
#[utoipa::path(post, path = "/referrals/{id}/approve", tag = "referrals", params(("id" = Uuid, Path)),
    responses((status = 200, body = Referral), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn approve_referral(
    State(state): State<AppState>,
    State(ingestion): State<Ingestion>,
    auth: Auth,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Referral>> {
    auth.require(Role::Operator)?;
    let (ws, now) = (auth.workspace_id, state.clock.now());
    let mut tx = crate::db::begin(&state.pool).await?;
    let r = repo::get(&mut tx, ws, id, true).await?.ok_or(ApiError::NotFound("referral"))?;
    match r.status {
        ReferralStatus::Qualified => return Ok(Json(r)),
        ReferralStatus::Flagged => {}
        _ => return Err(ApiError::conflict("not_flagged", "only a flagged referral can be approved")),
    }
    service::approve(&mut tx, ws, &r, now, &ingestion.reactions).await.map_err(ApiError::Internal)?;
    audit::record(&mut tx, ws, Actor::from(&auth), "referral.approve", "referral", id, serde_json::json!({})).await?;
    let r = repo::get(&mut tx, ws, id, false).await?.ok_or(ApiError::NotFound("referral"))?;
    tx.commit().await?;
    Ok(Json(r))
}

/// Reject a flagged (or pending, or qualified) referral: it no longer
/// counts — rewards already granted stay granted; a lottery entry it
/// earned is taken back before the draw. Rejecting a rejected one answers
/// it as is.
#[utoipa::path(post, path = "/referrals/{id}/reject", tag = "referrals", params(("id" = Uuid, Path)),
    responses((status = 200, body = Referral), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn reject_referral(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Referral>> {
    auth.require(Role::Operator)?;
    let (ws, now) = (auth.workspace_id, state.clock.now());
    let mut tx = crate::db::begin(&state.pool).await?;
    let r = repo::get(&mut tx, ws, id, true).await?.ok_or(ApiError::NotFound("referral"))?;
    if r.status == ReferralStatus::Rejected {
        return Ok(Json(r));
    }
    if r.status == ReferralStatus::Revoked {
        return Err(ApiError::conflict("not_open", "a revoked referral cannot be rejected"));
    }
    let from = [ReferralStatus::Pending, ReferralStatus::Flagged, ReferralStatus::Qualified];
    let to = (ReferralStatus::Rejected, Some(Reason::RejectedByOperator.as_str()));
    let r = repo::decide(&mut tx, ws, id, &from, to, None, now).await?.ok_or(ApiError::NotFound("referral"))?;
    audit::record(&mut tx, ws, Actor::from(&auth), "referral.reject", "referral", id, serde_json::json!({})).await?;
    tx.commit().await?;
    Ok(Json(r))
}

/// A campaign's inviters by qualified invites, then by who got there first.
#[utoipa::path(get, path = "/campaigns/{id}/leaderboard", tag = "referrals",
    params(("id" = CampaignId, Path), LeaderboardQuery),
    responses((status = 200, body = Leaderboard), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn get_leaderboard(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<CampaignId>,
    ApiQuery(q): ApiQuery<LeaderboardQuery>,
) -> ApiResult<Json<Leaderboard>> {
    let limit = q.limit.unwrap_or(20);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::field("limit", "invalid", "must be 1 to 200"));
    }
    let ws = auth.workspace_id;
    let mut conn = state.pool.acquire().await?;
    campaign(&mut conn, ws, id).await?;
    let rows = repo::leaderboard(&mut conn, ws, id.0, limit).await?;
    let items = rows
        .into_iter()
        .enumerate()
        .map(|(i, (m, name, qualified, reached_at))| LeaderboardRow {
            rank: i as i64 + 1,
            member_id: crate::ids::MemberId(m),
            display_name: name,
            qualified,
            reached_at,
        })
        .collect();
    Ok(Json(Leaderboard { campaign_id: id.0, items }))
}
