//! `GET /v1/audit-log`.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::error::ApiResult;
use crate::http::extract::ApiQuery;
use crate::http::pagination::{Page, PageParams};
use crate::keys::auth::Auth;
use crate::keys::model::Role;
use crate::state::AppState;

/// Routes of this feature.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_audit_log))
}

/// One audit entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntry {
    pub id: Uuid,
    pub occurred_at: DateTime<Utc>,
    /// `api_key`, `cli` or `system`.
    pub actor_type: String,
    /// The API key id when `actor_type` is `api_key`.
    pub actor_id: Option<Uuid>,
    /// e.g. `group.create`.
    pub action: String,
    pub resource_type: String,
    pub resource_id: Option<String>,
    pub request_id: Option<String>,
    pub details: serde_json::Value,
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
    let rows = sqlx::query(
        "SELECT id, occurred_at, actor_type, actor_id, action, resource_type, resource_id, request_id, details
         FROM audit_log
         WHERE workspace_id = $1 AND ($2::uuid IS NULL OR id < $2)
           AND ($3::text IS NULL OR resource_type = $3) AND ($4::text IS NULL OR resource_id = $4)
           AND ($5::text IS NULL OR action = $5)
         ORDER BY id DESC LIMIT $6",
    )
    .bind(auth.workspace_id)
    .bind(page.after)
    .bind(q.resource_type)
    .bind(q.resource_id)
    .bind(q.action)
    .bind(page.fetch_limit())
    .fetch_all(&state.pool)
    .await?;
    let items = rows
        .iter()
        .map(|r| {
            Ok(AuditEntry {
                id: r.try_get("id")?,
                occurred_at: r.try_get("occurred_at")?,
                actor_type: r.try_get("actor_type")?,
                actor_id: r.try_get("actor_id")?,
                action: r.try_get("action")?,
                resource_type: r.try_get("resource_type")?,
                resource_id: r.try_get("resource_id")?,
                request_id: r.try_get("request_id")?,
                details: r.try_get::<sqlx::types::Json<serde_json::Value>, _>("details")?.0,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok(Json(Page::from_rows(items, page, |e| e.id)))
}
