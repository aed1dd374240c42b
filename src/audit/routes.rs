//! `GET /v1/audit-log`.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::AuditEntry;
use crate::error::ApiResult;
use crate::http::auth::{Auth, Role};
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
}

/// List the audit log, newest first (admin or owner).
#[utoipa::path(get, path = "/audit-log", tag = "audit", params(AuditQuery),
    responses((status = 200, body = Page<AuditEntry>), (status = 403, body = crate::error::ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn list_audit_log(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Json<Page<AuditEntry>>> {
    auth.require(Role::Admin)?;
    let page = PageParams::parse(q.limit, q.cursor.as_deref())?;
    let filter = super::Filter { resource_type: q.resource_type, resource_id: q.resource_id, action: q.action };
    let mut conn = state.pool.acquire().await?;
    let items = super::list(&mut conn, auth.workspace_id, &filter, page.after, page.fetch_limit()).await?;
    Ok(Json(Page::from_rows(items, page, |e| e.id)))
}
