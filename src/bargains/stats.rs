//! `GET /v1/bargains/{id}/stats`: what a bargain's sessions did, in total
//! and by the group each session was started from.

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

/// The figures of a set of sessions.
#[derive(Debug, Default, Clone, Serialize, ToSchema)]
pub struct BargainFigures {
    /// Null in `total`; else the group the sessions were started from (null: none named).
    pub group_id: Option<GroupId>,
    pub started: i64,
    /// Still bargaining.
    pub open: i64,
    /// Reached the floor (bought or not).
    pub completed: i64,
    pub purchased: i64,
    pub expired: i64,
    pub helps: i64,
    /// Helps by members new to the workspace (first seen at most 7 days before helping).
    pub new_member_helps: i64,
    /// What the purchases paid, minor units.
    pub gmv: i64,
}

/// A bargain's stats.
#[derive(Debug, Serialize, ToSchema)]
pub struct BargainStats {
    pub bargain_id: Uuid,
    /// Distinct helpers who were new to the workspace: the fission the bargain brought.
    pub new_helpers: i64,
    pub total: BargainFigures,
    pub groups: Vec<BargainFigures>,
}

/// Sessions started, completed, purchased and expired, helps, the helps of
/// members new to the workspace and what the purchases paid, in total and
/// by group (`format=csv`: one row per group).
#[utoipa::path(get, path = "/bargains/{id}/stats", tag = "bargains", params(("id" = Uuid, Path), StatsQuery),
    responses((status = 200, body = BargainStats), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn get_bargain_stats(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<StatsQuery>,
) -> ApiResult<Response> {
    let ws = auth.workspace_id;
    let mut conn = state.pool.acquire().await?;
    let b = repo::get(&mut conn, ws, id).await?.ok_or(ApiError::NotFound("bargain"))?;
    let groups: Vec<BargainFigures> = repo::figures(&mut conn, ws, id)
        .await?
        .into_iter()
        .map(|(group, started, open, completed, purchased, expired, helps, new, gmv)| BargainFigures {
            group_id: group.map(GroupId),
            started,
            open,
            completed,
            purchased,
            expired,
            helps,
            new_member_helps: new,
            gmv,
        })
        .collect();
    let mut total = BargainFigures::default();
    for r in &groups {
        total.started += r.started;
        total.open += r.open;
        total.completed += r.completed;
        total.purchased += r.purchased;
        total.expired += r.expired;
        total.helps += r.helps;
        total.new_member_helps += r.new_member_helps;
        total.gmv += r.gmv;
    }
    if q.format == Some(Format::Csv) {
        let mut table = Table::new(&[
            "group_id",
            "started",
            "open",
            "completed",
            "purchased",
            "expired",
            "helps",
            "new_member_helps",
            "gmv",
        ]);
        for r in &groups {
            table.push(vec![
                cell(r.group_id),
                r.started.to_string(),
                r.open.to_string(),
                r.completed.to_string(),
                r.purchased.to_string(),
                r.expired.to_string(),
                r.helps.to_string(),
                r.new_member_helps.to_string(),
                r.gmv.to_string(),
            ]);
        }
        return Ok(table.response("bargain-stats"));
    }
    let new_helpers = repo::new_helpers(&mut conn, ws, id).await?;
    Ok(Json(BargainStats { bargain_id: b.id, new_helpers, total, groups }).into_response())
}
