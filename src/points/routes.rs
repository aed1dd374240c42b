//! `/v1/members/{id}/points`: balance, ledger and operator adjustments.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use sqlx::PgConnection;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::model::{CreateAdjustment, EntryKind, LedgerEntry, PointsBalance, Source, SourceType};
use super::{outbound, repo, service};
use crate::audit::{self, Actor};
use crate::error::{ApiError, ApiResult, ErrorEnvelope};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::http::pagination::{Page, PageParams, PageQuery};
use crate::ids::{MemberId, WorkspaceId};
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
        .routes(routes!(get_member_points))
        .routes(routes!(list_member_points_ledger))
        .routes(routes!(create_points_adjustment))
}

/// 404 unless the member is in the workspace.
pub async fn require_member(conn: &mut PgConnection, ws: WorkspaceId, id: MemberId) -> ApiResult<()> {
    if crate::members::repo::existing(conn, ws, &[id]).await?.is_empty() {
        return Err(ApiError::NotFound("member"));
    }
    Ok(())
}

/// The 409 of a debit the balance does not cover.
pub fn insufficient(i: service::Insufficient, needed: i64) -> ApiError {
    ApiError::conflict_with(
        "insufficient_points",
        format!("the balance ({}) does not cover {needed} points", i.balance),
        "balance",
        i.balance,
    )
}

/// A member's balance and next expiries.
#[utoipa::path(get, path = "/members/{id}/points", tag = "points", params(("id" = MemberId, Path)),
    responses((status = 200, body = PointsBalance), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn get_member_points(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<MemberId>,
) -> ApiResult<Json<PointsBalance>> {
    let ws = auth.workspace_id;
    let mut conn = state.pool.acquire().await?;
    let (balance, expiring) = repo::balance_and_expiring(&mut conn, ws, id, 12).await?;
    // An account exists only for a member of this workspace (a foreign
    // key); without one, whether the member exists decides 200 or 404.
    if balance.is_none() {
        require_member(&mut conn, ws, id).await?;
    }
    Ok(Json(PointsBalance { member_id: id, balance: balance.unwrap_or(0), expiring }))
}

/// A member's ledger, newest first.
#[utoipa::path(get, path = "/members/{id}/points/ledger", tag = "points", params(("id" = MemberId, Path), PageQuery),
    responses((status = 200, body = Page<LedgerEntry>), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn list_member_points_ledger(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<MemberId>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<LedgerEntry>>> {
    let page = PageParams::parse(q.limit, q.cursor.as_deref())?;
    let mut conn = state.pool.acquire().await?;
    require_member(&mut conn, auth.workspace_id, id).await?;
    let rows = repo::ledger(&mut conn, auth.workspace_id, id, page.after, page.fetch_limit()).await?;
    Ok(Json(Page::from_rows(rows, page, |e| e.id)))
}

/// Add or take points by hand (operator). A negative adjustment beyond the
/// balance is refused (409 `insufficient_points`); `Idempotency-Key` makes a
/// retry answer the first result.
#[utoipa::path(post, path = "/members/{id}/points/adjustments", tag = "points", params(("id" = MemberId, Path)),
    request_body = CreateAdjustment,
    responses((status = 201, body = LedgerEntry), (status = 404, body = ErrorEnvelope),
        (status = 409, body = ErrorEnvelope, description = "`insufficient_points`"), (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn create_points_adjustment(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<MemberId>,
    ApiJson(body): ApiJson<CreateAdjustment>,
) -> ApiResult<(StatusCode, Json<LedgerEntry>)> {
    auth.require(Role::Operator)?;
    body.validate()?;
    let ws = auth.workspace_id;
    let now = state.clock.now();
    let note = body.note.trim();
    let source = Source::new(SourceType::Manual, uuid::Uuid::now_v7());
    let mut tx = crate::db::begin(&state.pool).await?;
    require_member(&mut tx, ws, id).await?;
    let policy = service::policy(&mut tx, ws).await?.ok_or(ApiError::NotFound("workspace"))?;
    let (entry, expired) = if body.delta > 0 {
        let c = service::Credit { member: id, points: body.delta, kind: EntryKind::Adjust, source, note, at: now };
        let e = service::credit(&mut tx, ws, &policy, c).await?;
        (e.ok_or_else(|| anyhow::anyhow!("a fresh manual source was credited before"))?, vec![])
    } else {
        let points = -body.delta;
        let d = service::Debit { member: id, points, kind: EntryKind::Adjust, source, note, at: now };
        match service::debit(&mut tx, ws, d).await? {
            Ok(d) => (d.entry, d.expired),
            Err(i) => return Err(insufficient(i, points)),
        }
    };
    outbound::announce_expiries(&mut tx, ws, now, &expired).await?;
    outbound::announce(&mut tx, ws, now, &[&entry]).await?;
    let detail = serde_json::json!({"delta": body.delta, "entry_id": entry.id});
    audit::record(&mut tx, ws, Actor::from(&auth), "points.adjust", "member", id, detail).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(entry)))
}
