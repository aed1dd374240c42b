//! `/v1/flash-sales` and `/v1/flash-sale-reservations`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use sqlx::types::Json as Stored;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::model::{Confirm, CreateSale, FlashSale, Reservation, ReservationStatus, Reserve, SaleStatus, UpdateSale};
use super::repo::{self, SaleRow};
use super::service::{self, Refusal};
use super::writer::{Ask, ReservationWriter};
use crate::audit::{self, Actor};
use crate::campaigns::model::CampaignKind;
use crate::error::{ApiError, ApiResult, ErrorEnvelope};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::http::pagination::{Page, PageParams};
use crate::ids::{CampaignId, MemberId};
use crate::keys::auth::Auth;
use crate::keys::model::Role;
use crate::state::AppState;

/// Routes of this feature.
pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AppState: axum::extract::FromRef<S>,
    ReservationWriter: axum::extract::FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list_flash_sales, create_flash_sale))
        .routes(routes!(get_flash_sale, update_flash_sale))
        .routes(routes!(create_reservation))
        .routes(routes!(list_reservations))
        .routes(routes!(get_reservation))
        .routes(routes!(confirm_reservation))
        .routes(routes!(cancel_reservation))
}

fn refusal(r: Refusal) -> ApiError {
    match r {
        Refusal::NotStarted(at) => {
            ApiError::conflict_with("not_started", "the sale's next run has not started", "starts_at", at)
        }
        Refusal::Ended => ApiError::conflict("ended", "the sale has no run left"),
        Refusal::NotActive => ApiError::conflict("not_active", "the sale is paused or archived"),
        Refusal::NotEligible => ApiError::conflict("not_eligible", "the member may not buy in this sale"),
        Refusal::LimitReached => ApiError::conflict("limit_reached", "the member holds as many units as a member may"),
        Refusal::SoldOut => ApiError::conflict("sold_out", "no unit is left in this run"),
        Refusal::Short(available) => {
            ApiError::conflict_with("insufficient_stock", "fewer units are left than asked", "available", available)
        }
    }
}

/// Sale filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SaleQuery {
    pub campaign_id: Option<CampaignId>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    #[param(value_type = Option<uuid::Uuid>)]
    pub cursor: Option<String>,
}

/// Flash sales, newest first, each with its current or next run's stock.
#[utoipa::path(get, path = "/flash-sales", tag = "flash-sales", params(SaleQuery),
    responses((status = 200, body = Page<FlashSale>), (status = 422, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn list_flash_sales(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<SaleQuery>,
) -> ApiResult<Json<Page<FlashSale>>> {
    let page = PageParams::parse(q.limit, q.cursor.as_deref())?;
    let (ws, now) = (auth.workspace_id, state.clock.now());
    let mut conn = state.pool.acquire().await?;
    let rows = repo::list_sales(&mut conn, ws, q.campaign_id, page.after, page.fetch_limit()).await?;
    let sales = service::views(&mut conn, ws, rows, now).await?;
    Ok(Json(Page::from_rows(sales, page, |s| s.id)))
}

/// One flash sale: its run on now (else the next one) and each item's
/// `stock`, `reserved`, `sold` and `available` in that run.
#[utoipa::path(get, path = "/flash-sales/{id}", tag = "flash-sales", params(("id" = Uuid, Path)),
    responses((status = 200, body = FlashSale), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn get_flash_sale(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<FlashSale>> {
    let (ws, now) = (auth.workspace_id, state.clock.now());
    let mut conn = state.pool.acquire().await?;
    let s = repo::get_sale(&mut conn, ws, id).await?.ok_or(ApiError::NotFound("flash sale"))?;
    Ok(Json(service::view(&mut conn, ws, s, now).await?))
}

/// Create a flash sale for a `flash_sale` campaign (operator).
#[utoipa::path(post, path = "/flash-sales", tag = "flash-sales", request_body = CreateSale,
    responses((status = 201, body = FlashSale), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope),
        (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn create_flash_sale(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<CreateSale>,
) -> ApiResult<(StatusCode, Json<FlashSale>)> {
    auth.require(Role::Operator)?;
    body.validate()?;
    let (ws, now) = (auth.workspace_id, state.clock.now());
    let mut tx = crate::db::begin(&state.pool).await?;
    let c = crate::campaigns::repo::get(&mut tx, ws, body.campaign_id, false)
        .await?
        .ok_or_else(|| ApiError::unknown("campaign_id", "no such campaign in this workspace"))?;
    if c.kind != CampaignKind::FlashSale {
        return Err(ApiError::conflict("wrong_kind", "the campaign is not a flash_sale campaign"));
    }
    let row = SaleRow {
        id: Uuid::now_v7(),
        campaign_id: c.id.0,
        name: body.name.map(|n| n.trim().to_owned()).unwrap_or(c.name),
        schedule: Stored(body.schedule.to_micros()),
        eligible: body.eligible.map(Stored),
        reservation_minutes: body.reservation_minutes.unwrap_or(15) as i32,
        link: body.link,
        status: body.status.unwrap_or(SaleStatus::Active),
        created_at: now,
        updated_at: now,
    };
    repo::insert_sale(&mut tx, ws, &row, &body.items).await?;
    audit::record(&mut tx, ws, Actor::from(&auth), "flash_sale.create", "flash_sale", row.id, serde_json::json!({}))
        .await?;
    let view = service::view(&mut tx, ws, row, now).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Rename a sale, pause, resume or archive it (operator).
#[utoipa::path(patch, path = "/flash-sales/{id}", tag = "flash-sales", params(("id" = Uuid, Path)), request_body = UpdateSale,
    responses((status = 200, body = FlashSale), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn update_flash_sale(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<UpdateSale>,
) -> ApiResult<Json<FlashSale>> {
    auth.require(Role::Operator)?;
    let mut c = crate::validate::Checks::new();
    c.opt_text("name", body.name.as_deref(), 200);
    if let Some(Some(u)) = &body.link {
        c.url("link", u);
    }
    c.finish()?;
    let (ws, now) = (auth.workspace_id, state.clock.now());
    let mut tx = crate::db::begin(&state.pool).await?;
    let name = body.name.as_deref().map(str::trim);
    let link = body.link.as_ref().map(|l| l.as_deref());
    if !repo::update_sale(&mut tx, ws, id, name, body.status, link, now).await? {
        return Err(ApiError::NotFound("flash sale"));
    }
    audit::record(&mut tx, ws, Actor::from(&auth), "flash_sale.update", "flash_sale", id, serde_json::json!({}))
        .await?;
    let s = repo::get_sale(&mut tx, ws, id).await?.ok_or(ApiError::NotFound("flash sale"))?;
    let view = service::view(&mut tx, ws, s, now).await?;
    tx.commit().await?;
    Ok(Json(view))
}

/// Reserve units of an item in the run on now, at the sale price (operator
/// key: the shop calls it when the member taps "buy"). They are held for
/// the sale's `reservation_minutes`. 409 `sold_out` (nothing left),
/// `insufficient_stock` (with `available`), `limit_reached`, `not_started`
/// (with the next run's `starts_at`), `ended`, `not_eligible`, `not_active`.
#[utoipa::path(post, path = "/flash-sales/{id}/items/{product_id}/reservations", tag = "flash-sales",
    params(("id" = Uuid, Path), ("product_id" = String, Path)), request_body = Reserve,
    responses((status = 201, body = Reservation), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope),
        (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn create_reservation(
    State(state): State<AppState>,
    State(writer): State<ReservationWriter>,
    auth: Auth,
    ApiPath((id, product)): ApiPath<(Uuid, String)>,
    ApiJson(body): ApiJson<Reserve>,
) -> ApiResult<(StatusCode, Json<Reservation>)> {
    auth.require(Role::Operator)?;
    let quantity = body.quantity.unwrap_or(1);
    if !(1..=1000).contains(&quantity) {
        return Err(ApiError::field("quantity", "invalid", "must be 1 to 1000"));
    }
    let (ws, now) = (auth.workspace_id, state.clock.now());
    // Reads first, outside a transaction: in a 10:00 burst most buyers are
    // answered here (sold out) without a lock or a queue.
    let mut conn = state.pool.acquire().await?;
    let c = repo::context(&mut conn, ws, id, &product, body.member_id, body.group_id, now)
        .await?
        .ok_or(ApiError::NotFound("flash sale"))?;
    let item = c.item.as_ref().ok_or(ApiError::NotFound("flash sale item"))?;
    if !c.member_found {
        return Err(ApiError::unknown("member_id", "no such member in this workspace"));
    }
    if c.group_found == Some(None) {
        return Err(ApiError::unknown("group_id", "no such group"));
    }
    let plan = match service::look(&mut conn, ws, &c, body.member_id, quantity as i32, now).await? {
        Ok(plan) => plan,
        Err(r) => return Err(refusal(r)),
    };
    drop(conn);
    let ask = Ask {
        ws,
        sale: c.sale.clone(),
        item: item.clone(),
        member: body.member_id,
        quantity: quantity as i32,
        plan,
        now,
    };
    match writer.reserve(ask).await? {
        Ok(r) => Ok((StatusCode::CREATED, Json(r))),
        Err(r) => Err(refusal(r)),
    }
}

/// Reservation filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReservationQuery {
    pub sale_id: Option<Uuid>,
    pub member_id: Option<MemberId>,
    pub status: Option<ReservationStatus>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    #[param(value_type = Option<uuid::Uuid>)]
    pub cursor: Option<String>,
}

/// Reservations, newest first.
#[utoipa::path(get, path = "/flash-sale-reservations", tag = "flash-sales", params(ReservationQuery),
    responses((status = 200, body = Page<Reservation>), (status = 422, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn list_reservations(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<ReservationQuery>,
) -> ApiResult<Json<Page<Reservation>>> {
    let page = PageParams::parse(q.limit, q.cursor.as_deref())?;
    let mut conn = state.pool.acquire().await?;
    let f = repo::ReservationFilter { sale: q.sale_id, member: q.member_id, status: q.status };
    let rows = repo::list_reservations(&mut conn, auth.workspace_id, &f, page.after, page.fetch_limit()).await?;
    Ok(Json(Page::from_rows(rows, page, |r| r.id)))
}

/// One reservation.
#[utoipa::path(get, path = "/flash-sale-reservations/{id}", tag = "flash-sales", params(("id" = Uuid, Path)),
    responses((status = 200, body = Reservation), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn get_reservation(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Reservation>> {
    let mut conn = state.pool.acquire().await?;
    let r = repo::get_reservation(&mut conn, auth.workspace_id, id, false).await?;
    Ok(Json(r.ok_or(ApiError::NotFound("reservation"))?))
}

/// Confirm a reservation on its paid order: its units are sold. The same
/// order again answers the same; 409 `already_confirmed` for another order,
/// `reservation_expired` or `reservation_cancelled` once its units went back.
/// A reservation still holding its units is confirmed even just past
/// `expires_at` (the units were never released).
#[utoipa::path(post, path = "/flash-sale-reservations/{id}/confirm", tag = "flash-sales", params(("id" = Uuid, Path)),
    request_body = Confirm,
    responses((status = 200, body = Reservation), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope),
        (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn confirm_reservation(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<Confirm>,
) -> ApiResult<Json<Reservation>> {
    auth.require(Role::Operator)?;
    let mut c = crate::validate::Checks::new();
    c.text("order_id", &body.order_id, 1, 128);
    c.finish()?;
    let (ws, now) = (auth.workspace_id, state.clock.now());
    let mut tx = crate::db::begin(&state.pool).await?;
    let r = repo::get_reservation(&mut tx, ws, id, true).await?.ok_or(ApiError::NotFound("reservation"))?;
    let done = match r.status {
        ReservationStatus::Reserved => service::confirm(&mut tx, ws, &r, &body.order_id, now).await?,
        ReservationStatus::Confirmed if r.order_id.as_deref() == Some(body.order_id.as_str()) => r,
        ReservationStatus::Confirmed => {
            return Err(ApiError::conflict("already_confirmed", "the reservation is confirmed on another order"))
        }
        ReservationStatus::Expired => return Err(ApiError::conflict("reservation_expired", "its units went back")),
        ReservationStatus::Cancelled => return Err(ApiError::conflict("reservation_cancelled", "its units went back")),
    };
    tx.commit().await?;
    Ok(Json(done))
}

/// Cancel an unpaid reservation: its units go back and it no longer counts
/// toward the member's limit. 409 `not_reserved` otherwise.
#[utoipa::path(post, path = "/flash-sale-reservations/{id}/cancel", tag = "flash-sales", params(("id" = Uuid, Path)),
    responses((status = 200, body = Reservation), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn cancel_reservation(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Reservation>> {
    auth.require(Role::Operator)?;
    let (ws, now) = (auth.workspace_id, state.clock.now());
    let mut tx = crate::db::begin(&state.pool).await?;
    let r = repo::get_reservation(&mut tx, ws, id, true).await?.ok_or(ApiError::NotFound("reservation"))?;
    if r.status != ReservationStatus::Reserved {
        return Err(ApiError::conflict("not_reserved", "only a reservation holding units can be cancelled"));
    }
    let done = service::release(&mut tx, ws, &r, ReservationStatus::Cancelled, now).await?;
    tx.commit().await?;
    Ok(Json(done))
}
