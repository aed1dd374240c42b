//! `/v1/mall/items` and `/v1/mall/redemptions`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use sqlx::PgConnection;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::model::{
    CreateMallItem, CreateRedemption, Fulfil, MallItem, MallItemStatus, Redeemed, Redemption, RedemptionQuery,
    RedemptionStatus, UpdateMallItem,
};
use super::service::{self, Refusal};
use super::{outbound, repo};
use crate::audit::{self, Actor};
use crate::error::{ApiError, ApiResult, ErrorEnvelope, FieldError};
use crate::http::csv::{self, Format, EXPORT_PAGE};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::http::pagination::{Page, PageParams};
use crate::ids::WorkspaceId;
use crate::keys::auth::Auth;
use crate::keys::model::Role;
use crate::state::AppState;

/// Routes of this feature.
pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AppState: axum::extract::FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list_mall_items, create_mall_item))
        .routes(routes!(get_mall_item, update_mall_item, delete_mall_item))
        .routes(routes!(create_redemption))
        .routes(routes!(list_redemptions))
        .routes(routes!(get_redemption))
        .routes(routes!(fulfil_redemption))
        .routes(routes!(cancel_redemption))
}

fn refusal(r: Refusal) -> ApiError {
    match r {
        Refusal::NotActive => ApiError::conflict("not_active", "the item is not on sale now"),
        Refusal::OutOfStock => ApiError::conflict("out_of_stock", "not enough stock left"),
        Refusal::NotEligible => ApiError::conflict("not_eligible", "the member's tier may not redeem this item"),
        Refusal::LimitReached { limit, redeemed } => ApiError::conflict_with(
            "limit_reached",
            format!("at most {limit} per member in this period; {redeemed} redeemed"),
            "redeemed",
            redeemed,
        ),
        Refusal::Insufficient(i, n) => crate::points::insufficient(i, n),
    }
}

/// 404 unless the tiers exist in the workspace.
async fn check_tiers(conn: &mut PgConnection, ws: WorkspaceId, tiers: Option<&Vec<String>>) -> ApiResult<()> {
    let mut errors = Vec::new();
    for (i, t) in tiers.into_iter().flatten().enumerate() {
        if !crate::tiers::repo::key_exists(conn, ws, t).await? {
            errors.push(FieldError::new(format!("tiers[{i}]"), "unknown", "no such tier in this workspace"));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Unknown(errors))
    }
}

/// MallItem filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MallItemQuery {
    pub status: Option<MallItemStatus>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    #[param(value_type = Option<uuid::Uuid>)]
    pub cursor: Option<String>,
}

/// Mall items, newest first.
#[utoipa::path(get, path = "/mall/items", tag = "mall", params(MallItemQuery),
    responses((status = 200, body = Page<MallItem>), (status = 422, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn list_mall_items(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<MallItemQuery>,
) -> ApiResult<Json<Page<MallItem>>> {
    let page = PageParams::parse(q.limit, q.cursor.as_deref())?;
    let mut conn = state.pool.acquire().await?;
    let rows = repo::list_items(&mut conn, auth.workspace_id, q.status, page.after, page.fetch_limit()).await?;
    Ok(Json(Page::from_rows(rows, page, |i| i.id)))
}

/// One mall item.
#[utoipa::path(get, path = "/mall/items/{id}", tag = "mall", params(("id" = Uuid, Path)),
    responses((status = 200, body = MallItem), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn get_mall_item(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<MallItem>> {
    let mut conn = state.pool.acquire().await?;
    Ok(Json(repo::get_item(&mut conn, auth.workspace_id, id, false).await?.ok_or(ApiError::NotFound("mall item"))?))
}

/// Create a mall item (operator).
#[utoipa::path(post, path = "/mall/items", tag = "mall", request_body = CreateMallItem,
    responses((status = 201, body = MallItem), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn create_mall_item(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<CreateMallItem>,
) -> ApiResult<(StatusCode, Json<MallItem>)> {
    auth.require(Role::Operator)?;
    body.validate()?;
    let ws = auth.workspace_id;
    let mut tx = crate::db::begin(&state.pool).await?;
    check_tiers(&mut tx, ws, body.tiers.as_ref()).await?;
    let item = repo::insert_item(&mut tx, ws, &body).await?;
    audit::record(&mut tx, ws, Actor::from(&auth), "mall_item.create", "mall_item", item.id, serde_json::json!({}))
        .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(item)))
}

/// Change a mall item (operator); setting `stock` sets the units left.
#[utoipa::path(patch, path = "/mall/items/{id}", tag = "mall", params(("id" = Uuid, Path)), request_body = UpdateMallItem,
    responses((status = 200, body = MallItem), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope),
        (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn update_mall_item(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<UpdateMallItem>,
) -> ApiResult<Json<MallItem>> {
    auth.require(Role::Operator)?;
    body.validate()?;
    let ws = auth.workspace_id;
    let mut tx = crate::db::begin(&state.pool).await?;
    let mut i = repo::get_item(&mut tx, ws, id, true).await?.ok_or(ApiError::NotFound("mall item"))?;
    check_tiers(&mut tx, ws, body.tiers.as_ref().and_then(|t| t.as_ref())).await?;
    i.name = body.name.map(|n| n.trim().to_owned()).unwrap_or(i.name);
    i.description = body.description.map(|d| d.trim().to_owned()).unwrap_or(i.description);
    i.points_cost = body.points_cost.unwrap_or(i.points_cost);
    crate::http::patch::apply(&mut i.stock, body.stock);
    crate::http::patch::apply(&mut i.per_member_limit, body.per_member_limit);
    crate::http::patch::apply(&mut i.tiers, body.tiers);
    crate::http::patch::apply(&mut i.starts_at, body.starts_at);
    crate::http::patch::apply(&mut i.ends_at, body.ends_at);
    crate::http::patch::apply(&mut i.image_url, body.image_url);
    i.status = body.status.unwrap_or(i.status);
    i.auto_fulfil = body.auto_fulfil.unwrap_or(i.auto_fulfil);
    let mut c = crate::validate::Checks::new();
    crate::campaigns::model::check_period(&mut c, i.starts_at, i.ends_at);
    c.finish_as_conflict("before_start")?;
    let saved = repo::save_item(&mut tx, ws, &i).await?;
    audit::record(&mut tx, ws, Actor::from(&auth), "mall_item.update", "mall_item", id, serde_json::json!({})).await?;
    tx.commit().await?;
    Ok(Json(saved))
}

/// Delete a mall item never redeemed (operator); archive one that was (409 `in_use`).
#[utoipa::path(delete, path = "/mall/items/{id}", tag = "mall", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn delete_mall_item(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    auth.require(Role::Operator)?;
    let ws = auth.workspace_id;
    let mut tx = crate::db::begin(&state.pool).await?;
    // Locked first: a redemption takes the same row (its stock update), so
    // it either commits before the check below sees it or finds no item.
    repo::get_item(&mut tx, ws, id, true).await?.ok_or(ApiError::NotFound("mall item"))?;
    match repo::delete_item(&mut tx, ws, id).await? {
        None => return Err(ApiError::NotFound("mall item")),
        Some(false) => return Err(ApiError::conflict("in_use", "the item was redeemed; archive it instead")),
        Some(true) => {}
    }
    audit::record(&mut tx, ws, Actor::from(&auth), "mall_item.delete", "mall_item", id, serde_json::json!({})).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Redeem an item for a member's points (operator key: the shop calls it).
/// Points, stock and the redemption commit together; `Idempotency-Key`
/// makes a retry answer the first result.
#[utoipa::path(post, path = "/mall/items/{id}/redemptions", tag = "mall", params(("id" = Uuid, Path)),
    request_body = CreateRedemption,
    responses((status = 201, body = Redeemed), (status = 404, body = ErrorEnvelope),
        (status = 409, body = ErrorEnvelope, description = "`insufficient_points` (with `balance`), `out_of_stock`, \
            `limit_reached` (with `redeemed`), `not_eligible`, `not_active`"),
        (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn create_redemption(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<CreateRedemption>,
) -> ApiResult<(StatusCode, Json<Redeemed>)> {
    auth.require(Role::Operator)?;
    let quantity = body.quantity.unwrap_or(1);
    if !(1..=100).contains(&quantity) {
        return Err(ApiError::field("quantity", "invalid", "must be 1 to 100"));
    }
    let ws = auth.workspace_id;
    let now = state.clock.now();
    let mut tx = crate::db::begin(&state.pool).await?;
    let item = repo::get_item(&mut tx, ws, id, false).await?.ok_or(ApiError::NotFound("mall item"))?;
    if crate::members::repo::existing(&mut tx, ws, &[body.member_id]).await?.is_empty() {
        return Err(ApiError::unknown("member_id", "no such member in this workspace"));
    }
    match service::redeem(&mut tx, ws, &item, body.member_id, quantity, now).await? {
        Ok(r) => {
            tx.commit().await?;
            Ok((StatusCode::CREATED, Json(r)))
        }
        Err(r) => Err(refusal(r)),
    }
}

/// Redemptions, newest first.
#[utoipa::path(get, path = "/mall/redemptions", tag = "mall", params(RedemptionQuery),
    responses((status = 200, body = Page<Redemption>), (status = 422, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn list_redemptions(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<RedemptionQuery>,
) -> ApiResult<Response> {
    let page = PageParams::parse(q.limit, q.cursor.as_deref())?;
    let f = repo::Filter { member: q.member_id, item: q.item_id, status: q.status };
    if q.format == Some(Format::Csv) {
        let (pool, ws) = (state.pool.clone(), auth.workspace_id);
        let fetch = move |after| {
            let (pool, f) = (pool.clone(), f.clone());
            async move { Ok(repo::list_redemptions(&mut *pool.acquire().await?, ws, &f, after, EXPORT_PAGE).await?) }
        };
        return csv::export("redemptions", REDEMPTION_COLUMNS, fetch, |r: &Redemption| r.id, redemption_row).await;
    }
    let mut conn = state.pool.acquire().await?;
    let rows = repo::list_redemptions(&mut conn, auth.workspace_id, &f, page.after, page.fetch_limit()).await?;
    Ok(Json(Page::from_rows(rows, page, |r| r.id)).into_response())
}

/// One redemption.
#[utoipa::path(get, path = "/mall/redemptions/{id}", tag = "mall", params(("id" = Uuid, Path)),
    responses((status = 200, body = Redemption), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn get_redemption(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Redemption>> {
    let mut conn = state.pool.acquire().await?;
    let r = repo::get_redemption(&mut conn, auth.workspace_id, id, false).await?;
    Ok(Json(r.ok_or(ApiError::NotFound("redemption"))?))
}

/// Mark a pending redemption fulfilled (shipped, handed over).
#[utoipa::path(post, path = "/mall/redemptions/{id}/fulfil", tag = "mall", params(("id" = Uuid, Path)), request_body = Fulfil,
    responses((status = 200, body = Redemption), (status = 404, body = ErrorEnvelope),
        (status = 409, body = ErrorEnvelope, description = "`not_pending`"), (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn fulfil_redemption(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<Fulfil>,
) -> ApiResult<Json<Redemption>> {
    auth.require(Role::Operator)?;
    let mut c = crate::validate::Checks::new();
    c.opt_text("tracking", body.tracking.as_deref(), 200);
    c.finish()?;
    let ws = auth.workspace_id;
    let now = state.clock.now();
    let mut tx = crate::db::begin(&state.pool).await?;
    let r = repo::get_redemption(&mut tx, ws, id, true).await?.ok_or(ApiError::NotFound("redemption"))?;
    if r.status != RedemptionStatus::PendingFulfilment {
        return Err(ApiError::conflict("not_pending", "only a pending redemption can be fulfilled"));
    }
    let tracking = body.tracking.as_deref().map(str::trim);
    let done = repo::set_status(&mut tx, ws, id, RedemptionStatus::Fulfilled, tracking, now).await?;
    outbound::fulfilled(&mut tx, ws, &done, now).await?;
    audit::record(
        &mut tx,
        ws,
        Actor::from(&auth),
        "mall_redemption.fulfil",
        "mall_redemption",
        id,
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(done))
}

/// Cancel a pending redemption: the stock and the points come back (to the
/// same lots where they have not expired, else to a fresh lot).
#[utoipa::path(post, path = "/mall/redemptions/{id}/cancel", tag = "mall", params(("id" = Uuid, Path)),
    responses((status = 200, body = Redemption), (status = 404, body = ErrorEnvelope),
        (status = 409, body = ErrorEnvelope, description = "`not_pending`")),
    security(("bearer" = [])))]
pub async fn cancel_redemption(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Redemption>> {
    auth.require(Role::Operator)?;
    let ws = auth.workspace_id;
    let now = state.clock.now();
    let mut tx = crate::db::begin(&state.pool).await?;
    let r = repo::get_redemption(&mut tx, ws, id, true).await?.ok_or(ApiError::NotFound("redemption"))?;
    if r.status != RedemptionStatus::PendingFulfilment {
        return Err(ApiError::conflict("not_pending", "only a pending redemption can be cancelled"));
    }
    let done = service::cancel(&mut tx, ws, &r, now).await?;
    audit::record(
        &mut tx,
        ws,
        Actor::from(&auth),
        "mall_redemption.cancel",
        "mall_redemption",
        id,
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(done))
}

const REDEMPTION_COLUMNS: &[&str] = &[
    "id",
    "item_id",
    "member_id",
    "quantity",
    "points_spent",
    "status",
    "tracking",
    "created_at",
    "fulfilled_at",
    "cancelled_at",
];

fn redemption_row(r: &Redemption) -> Vec<String> {
    vec![
        r.id.to_string(),
        r.item_id.to_string(),
        r.member_id.to_string(),
        r.quantity.to_string(),
        r.points_spent.to_string(),
        csv::word(&r.status),
        csv::cell(r.tracking.as_ref()),
        r.created_at.to_rfc3339(),
        csv::cell(r.fulfilled_at.map(|t| t.to_rfc3339())),
        csv::cell(r.cancelled_at.map(|t| t.to_rfc3339())),
    ]
}
