//! `GET /v1/audit-log`.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::AuditEntry;
use crate::error::ApiResult;
use crate::http::auth::{Auth, Role};
use crate::http::csv::{self, Format, EXPORT_PAGE};
use crate::http::extract::ApiQuery;
use crate::http::pagination::{Page, PageParams};
use crate::state::AppState;

/// Routes of this feature.
pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    crate::state::AppState: axum::extract::FromRef<S>,
{
    OpenApiRouter::new().routes(routes!(list_audit_log))
}

/// Filters of the audit log.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only this resource type (`group`, `member`, ...).
    pub resource_type: Option<String>,
    /// Only this resource id.
    pub resource_id: Option<String>,
    /// Only this action (`group.create`, ...).
    pub action: Option<String>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    #[param(value_type = Option<uuid::Uuid>)]
    pub cursor: Option<String>,
    /// `csv`: every matching row as one CSV download (`limit` and `cursor` do not apply).
    #[param(inline)]
    pub format: Option<Format>,
}

/// List the audit log, newest first (admin or owner).
#[utoipa::path(get, path = "/audit-log", tag = "audit", params(AuditQuery),
    responses((status = 200, body = Page<AuditEntry>), (status = 403, body = crate::error::ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn list_audit_log(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Response> {
    auth.require(Role::Admin)?;
    let page = PageParams::parse(q.limit, q.cursor.as_deref())?;
    let filter = super::Filter { resource_type: q.resource_type, resource_id: q.resource_id, action: q.action };
    if q.format == Some(Format::Csv) {
        let (pool, ws) = (state.pool.clone(), auth.workspace_id);
        let fetch = move |after| {
            let (pool, filter) = (pool.clone(), filter.clone());
            async move { Ok(super::list(&mut *pool.acquire().await?, ws, &filter, after, EXPORT_PAGE).await?) }
        };
        return csv::export("audit-log", CSV_COLUMNS, fetch, |e: &AuditEntry| e.id, csv_row).await;
    }
    let mut conn = state.pool.acquire().await?;
    let items = super::list(&mut conn, auth.workspace_id, &filter, page.after, page.fetch_limit()).await?;
    Ok(Json(Page::from_rows(items, page, |e| e.id)).into_response())
}

const CSV_COLUMNS: &[&str] =
    &["id", "occurred_at", "actor_type", "actor_id", "action", "resource_type", "resource_id", "request_id", "details"];

fn csv_row(e: &AuditEntry) -> Vec<String> {
    vec![
        e.id.to_string(),
        e.occurred_at.to_rfc3339(),
        e.actor_type.clone(),
        csv::cell(e.actor_id),
        e.action.clone(),
        e.resource_type.clone(),
        csv::cell(e.resource_id.as_ref()),
        csv::cell(e.request_id.as_ref()),
        e.details.to_string(),
    ]
}
