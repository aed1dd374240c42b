//! `GET /v1/coupon-templates/{id}/stats`: what a template's coupons did,
//! in total and per claim group.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::repo;
use crate::error::{ApiError, ApiResult, ErrorEnvelope};
use crate::http::csv::{cell, Format, Table};
use crate::http::extract::{ApiPath, ApiQuery};
use crate::ids::GroupId;
use crate::keys::auth::Auth;
use crate::state::AppState;

/// `format=csv` for the rows by group.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// `json` (default) or `csv` (one row per group).
    #[param(inline)]
    pub format: Option<Format>,
}

/// The figures of a set of coupons.
#[derive(Debug, Default, Clone, Serialize, ToSchema)]
pub struct CouponFigures {
    /// Coupons given: issued by operators plus claimed by members.
    pub given: i64,
    /// Of those, issued by an operator.
    pub issued: i64,
    /// Of those, claimed by members themselves.
    pub claimed: i64,
    /// Locked to an order awaiting payment.
    pub locked: i64,
    /// Used on a paid order.
    pub redeemed: i64,
    /// Past their validity unused.
    pub expired: i64,
    /// Withdrawn.
    pub void: i64,
    /// `redeemed / given` (null when none was given).
    pub redemption_rate: Option<f64>,
    /// Discount given on the paid orders (minor units; unknown where the shop applied a coupon without a lock).
    pub discount: i64,
    /// The paid amount of those orders (minor units).
    pub gmv: i64,
}

/// One group's figures (null: coupons claimed without a group or issued).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = CouponGroupRow)]
pub struct GroupRow {
    pub group_id: Option<GroupId>,
    #[serde(flatten)]
    pub figures: CouponFigures,
}

/// A template's stats.
#[derive(Debug, Serialize, ToSchema)]
pub struct CouponStats {
    pub template_id: Uuid,
    pub currency: String,
    /// Coupons that may still be given (null without a total).
    pub remaining: Option<i64>,
    pub total: CouponFigures,
    pub groups: Vec<GroupRow>,
}

fn figures(r: &repo::GroupFigures) -> CouponFigures {
    let (_, issued, claimed, locked, redeemed, expired, void, discount, gmv) = *r;
    let given = issued + claimed;
    CouponFigures {
        given,
        issued,
        claimed,
        locked,
        redeemed,
        expired,
        void,
        redemption_rate: (given > 0).then(|| redeemed as f64 / given as f64),
        discount,
        gmv,
    }
}

fn add(a: &mut CouponFigures, b: &CouponFigures) {
    a.given += b.given;
    a.issued += b.issued;
    a.claimed += b.claimed;
    a.locked += b.locked;
    a.redeemed += b.redeemed;
    a.expired += b.expired;
    a.void += b.void;
    a.discount += b.discount;
    a.gmv += b.gmv;
    a.redemption_rate = (a.given > 0).then(|| a.redeemed as f64 / a.given as f64);
}

/// Issued, claimed, redeemed, expired, the redemption rate, the discount
/// given and the GMV of the orders, in total and by claim group.
#[utoipa::path(get, path = "/coupon-templates/{id}/stats", tag = "coupons", params(("id" = Uuid, Path), StatsQuery),
    responses((status = 200, body = CouponStats), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn get_coupon_stats(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<StatsQuery>,
) -> ApiResult<Response> {
    let (ws, now) = (auth.workspace_id, state.clock.now());
    let mut conn = state.pool.acquire().await?;
    let t = repo::get_template(&mut conn, ws, id, false).await?.ok_or(ApiError::NotFound("coupon template"))?;
    let rows = repo::figures(&mut conn, ws, id, now).await?;
    let groups: Vec<GroupRow> =
        rows.iter().map(|r| GroupRow { group_id: r.0.map(GroupId), figures: figures(r) }).collect();
    let mut total = CouponFigures::default();
    for g in &groups {
        add(&mut total, &g.figures);
    }
    if q.format == Some(Format::Csv) {
        let mut table = Table::new(&[
            "group_id",
            "given",
            "issued",
            "claimed",
            "locked",
            "redeemed",
            "expired",
            "void",
            "redemption_rate",
            "discount",
            "gmv",
        ]);
        for g in &groups {
            let f = &g.figures;
            table.push(vec![
                cell(g.group_id),
                f.given.to_string(),
                f.issued.to_string(),
                f.claimed.to_string(),
                f.locked.to_string(),
                f.redeemed.to_string(),
                f.expired.to_string(),
                f.void.to_string(),
                cell(f.redemption_rate),
                f.discount.to_string(),
                f.gmv.to_string(),
            ]);
        }
        return Ok(table.response("coupon-stats"));
    }
    Ok(Json(CouponStats { template_id: t.id, currency: t.currency, remaining: t.remaining, total, groups })
        .into_response())
}
