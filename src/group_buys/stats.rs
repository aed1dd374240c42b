//! `GET /v1/group-buys/{id}/stats`: what a group-buy's teams did, in total
//! and by the group each team was opened from.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::repo;
use crate::coupons::stats::StatsQuery;
use crate::error::{ApiError, ApiResult, ErrorEnvelope};
use crate::http::csv::{cell, Format, Table};
use crate::http::extract::{ApiPath, ApiQuery};
use crate::ids::GroupId;
use crate::keys::auth::Auth;
use crate::state::AppState;

/// The figures of a set of teams.
#[derive(Debug, Default, Clone, Serialize, ToSchema)]
pub struct GroupBuyFigures {
    /// Null in `total`; else the group the teams were opened from (null: none named).
    pub group_id: Option<GroupId>,
    pub teams_opened: i64,
    pub succeeded: i64,
    pub failed: i64,
    /// Still open.
    pub open: i64,
    /// `succeeded / (succeeded + failed)` (null before any team closed).
    pub success_rate: Option<f64>,
    /// Mean seconds from opening to filling, over the succeeded teams.
    pub mean_seconds_to_fill: Option<f64>,
    /// Members who joined a team (leaders not counted).
    pub joiners: i64,
    /// Of those, members new to the workspace (first seen at most 7 days before joining).
    pub new_member_joiners: i64,
    /// Members of succeeded teams times the group price (minor units).
    pub gmv: i64,
}

/// A group-buy's stats.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupBuyStats {
    pub group_buy_id: Uuid,
    pub group_price: i64,
    pub total: GroupBuyFigures,
    pub groups: Vec<GroupBuyFigures>,
}

fn rate(succeeded: i64, failed: i64) -> Option<f64> {
    (succeeded + failed > 0).then(|| succeeded as f64 / (succeeded + failed) as f64)
}

/// Teams opened, succeeded and failed, the success rate, the mean time to
/// fill, the joiners who were new members and the GMV at the group price,
/// in total and by group (`format=csv`: one row per group).
#[utoipa::path(get, path = "/group-buys/{id}/stats", tag = "group-buys", params(("id" = Uuid, Path), StatsQuery),
    responses((status = 200, body = GroupBuyStats), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn get_group_buy_stats(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<StatsQuery>,
) -> ApiResult<Response> {
    let ws = auth.workspace_id;
    let mut conn = state.pool.acquire().await?;
    let g = repo::get(&mut conn, ws, id).await?.ok_or(ApiError::NotFound("group-buy"))?;
    let rows = repo::figures(&mut conn, ws, id).await?;
    let groups: Vec<GroupBuyFigures> = rows
        .iter()
        .map(|&(group, opened, succeeded, failed, open, fill, joiners, new, places)| GroupBuyFigures {
            group_id: group.map(GroupId),
            teams_opened: opened,
            succeeded,
            failed,
            open,
            success_rate: rate(succeeded, failed),
            mean_seconds_to_fill: fill,
            joiners,
            new_member_joiners: new,
            gmv: places * g.group_price,
        })
        .collect();
    let mut total = GroupBuyFigures::default();
    let mut fill_weight = 0.0;
    for r in &groups {
        total.teams_opened += r.teams_opened;
        total.succeeded += r.succeeded;
        total.failed += r.failed;
        total.open += r.open;
        total.joiners += r.joiners;
        total.new_member_joiners += r.new_member_joiners;
        total.gmv += r.gmv;
        if let Some(f) = r.mean_seconds_to_fill {
            fill_weight += f * r.succeeded as f64;
        }
    }
    total.success_rate = rate(total.succeeded, total.failed);
    total.mean_seconds_to_fill = (total.succeeded > 0).then(|| fill_weight / total.succeeded as f64);
    if q.format == Some(Format::Csv) {
        let mut table = Table::new(&[
            "group_id",
            "teams_opened",
            "succeeded",
            "failed",
            "open",
            "success_rate",
            "mean_seconds_to_fill",
            "joiners",
            "new_member_joiners",
            "gmv",
        ]);
        for r in &groups {
            table.push(vec![
                cell(r.group_id),
                r.teams_opened.to_string(),
                r.succeeded.to_string(),
                r.failed.to_string(),
                r.open.to_string(),
                cell(r.success_rate),
                cell(r.mean_seconds_to_fill),
                r.joiners.to_string(),
                r.new_member_joiners.to_string(),
                r.gmv.to_string(),
            ]);
        }
        return Ok(table.response("group-buy-stats"));
    }
    Ok(Json(GroupBuyStats { group_buy_id: g.id, group_price: g.group_price, total, groups }).into_response())
}
