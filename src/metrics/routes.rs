//! `/v1/metrics/...`: thin handlers over the computations.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{Duration, NaiveDate};
use serde::Serialize;
use sqlx::{PgPool, Postgres, Transaction};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::activity::{self, ActiveDaysBucket, ActivityDay, LEAD};
use super::csv::{cell, Table};
use super::params::{self, Common, Ctx, Format, MetricQuery, NoParams};
use super::{repo, rollup};
use crate::error::{ApiResult, ErrorEnvelope};
use crate::keys::auth::Auth;
use crate::state::AppState;

/// Routes of this feature.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_activity))
}

/// A read-only snapshot: every query of one report sees the same data.
pub(super) async fn snapshot(pool: &PgPool) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *tx).await?;
    Ok(tx)
}

/// Daily activity of a period.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActivityReport {
    pub timezone: String,
    #[schema(value_type = String)]
    pub from: NaiveDate,
    #[schema(value_type = String)]
    pub to: NaiveDate,
    pub days: Vec<ActivityDay>,
    /// Mean DAU/MAU over the complete days (null when none had a MAU).
    pub stickiness: Option<f64>,
    /// Distinct members active on some complete day of the period.
    pub active_members: i64,
    /// Members by number of active complete days in the period.
    pub active_days_distribution: Vec<ActiveDaysBucket>,
    /// True while some day of the period waits for its rollup (figures may lag).
    pub pending: bool,
}

/// Whether the rollups of the period (and the trailing windows) are complete.
async fn pending(conn: &mut sqlx::PgConnection, c: &Ctx, lead: i64) -> Result<bool, sqlx::Error> {
    if !c.rollup_days {
        return Ok(false);
    }
    rollup::pending(conn, c.ws, c.from - Duration::days(lead), c.to).await
}

/// Activity per local day: DAU, WAU, MAU, messages, active rate, stickiness.
#[utoipa::path(get, path = "/metrics/activity", tag = "metrics", params(Common),
    responses((status = 200, body = ActivityReport, description = "JSON, or CSV with `format=csv`"),
        (status = 422, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn get_activity(
    State(state): State<AppState>,
    auth: Auth,
    MetricQuery(q, _): MetricQuery<NoParams>,
) -> ApiResult<Response> {
    let mut tx = snapshot(&state.pool).await?;
    let c = params::resolve(&mut tx, auth.workspace_id, &q, state.clock.now()).await?;
    let active = repo::active_days(&mut tx, &c, c.from - Duration::days(LEAD as i64), c.to).await?;
    let mut messages = vec![0i64; c.days()];
    for (i, n) in repo::messages(&mut tx, &c, c.from, c.to).await? {
        if let Some(slot) = messages.get_mut(i as usize) {
            *slot = n;
        }
    }
    let stints = repo::stints(&mut tx, &c, c.start(c.from), c.start(c.to + Duration::days(1))).await?;
    let belonging = activity::belonging(c.tz, c.from, &stints);
    let computed = activity::compute(&activity::Input {
        from: c.from,
        days: c.days(),
        today: c.today,
        active: &active,
        belonging: &belonging,
        messages: &messages,
    });
    let report = ActivityReport {
        timezone: c.tz_name.clone(),
        from: c.from,
        to: c.to,
        days: computed.days,
        stickiness: computed.stickiness,
        active_members: computed.active_members,
        active_days_distribution: computed.distribution,
        pending: pending(&mut tx, &c, LEAD as i64).await?,
    };
    Ok(match c.format {
        Format::Json => Json(report).into_response(),
        Format::Csv => {
            let mut t = Table::new(&[
                "date",
                "dau",
                "wau",
                "mau",
                "messages",
                "members",
                "active_members",
                "active_rate",
                "incomplete",
            ]);
            for d in &report.days {
                t.push(vec![
                    d.date.to_string(),
                    cell(d.dau),
                    cell(d.wau),
                    cell(d.mau),
                    cell(d.messages),
                    cell(d.members),
                    cell(d.active_members),
                    cell(d.active_rate),
                    d.incomplete.to_string(),
                ]);
            }
            t.response("activity")
        }
    })
}
