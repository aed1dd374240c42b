//! The audit log: one row per write, in the same transaction as the write,
//! naming the actor (API key, user, CLI or system), the action, the resource and
//! the request id. Never holds personal data: details carry ids and changed
//! field names, not values of phone/email.

mod routes;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::http::auth::{Auth, Principal};
use crate::http::request_id;
use crate::ids::{ApiKeyId, UserId, WorkspaceId};

pub use routes::router;

/// Who did something.
#[derive(Debug, Clone, Copy)]
pub enum Actor {
    /// An API key.
    Key(ApiKeyId),
    /// A person signed in to the console.
    User(UserId),
    /// The command line (`shequn ...`).
    Cli,
    /// Shequn itself (bootstrap, workers).
    System,
}

impl From<&Auth> for Actor {
    fn from(a: &Auth) -> Self {
        match a.principal {
            Principal::Key(k) => Actor::Key(k),
            Principal::User(u) => Actor::User(u),
        }
    }
}

impl Actor {
    /// `(actor_type, actor_id)` as stored.
    pub fn parts(self) -> (&'static str, Option<Uuid>) {
        match self {
            Actor::Key(id) => ("api_key", Some(id.0)),
            Actor::User(id) => ("user", Some(id.0)),
            Actor::Cli => ("cli", None),
            Actor::System => ("system", None),
        }
    }
}

/// Appends an entry.
pub async fn record(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    actor: Actor,
    action: &str,
    resource_type: &str,
    resource_id: impl ToString,
    details: impl Serialize,
) -> anyhow::Result<()> {
    let (actor_type, actor_id) = actor.parts();
    sqlx::query(
        "INSERT INTO audit_log (workspace_id, id, actor_type, actor_id, action, resource_type, resource_id, request_id, details)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(ws)
    .bind(Uuid::now_v7())
    .bind(actor_type)
    .bind(actor_id)
    .bind(action)
    .bind(resource_type)
    .bind(resource_id.to_string())
    .bind(request_id::current())
    .bind(sqlx::types::Json(serde_json::to_value(details)?))
    .execute(conn)
    .await?;
    Ok(())
}

/// One audit entry.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: Uuid,
    pub occurred_at: DateTime<Utc>,
    /// `api_key`, `cli` or `system`.
    pub actor_type: String,
    /// The API key id when `actor_type` is `api_key`, the user's when `user`.
    pub actor_id: Option<Uuid>,
    /// e.g. `group.create`.
    pub action: String,
    pub resource_type: String,
    pub resource_id: Option<String>,
    pub request_id: Option<String>,
    pub details: serde_json::Value,
}

/// Which audit entries to list.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    pub action: Option<String>,
}

/// Audit entries newest first, older than `after`.
pub async fn list(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    filter: &Filter,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<AuditEntry>, sqlx::Error> {
    use sqlx::Row;
    let rows = sqlx::query(
        "SELECT id, occurred_at, actor_type, actor_id, action, resource_type, resource_id, request_id, details
         FROM audit_log
         WHERE workspace_id = $1 AND ($2::uuid IS NULL OR id < $2)
           AND ($3::text IS NULL OR resource_type = $3) AND ($4::text IS NULL OR resource_id = $4)
           AND ($5::text IS NULL OR action = $5)
         ORDER BY id DESC LIMIT $6",
    )
    .bind(ws)
    .bind(after)
    .bind(&filter.resource_type)
    .bind(&filter.resource_id)
    .bind(&filter.action)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter()
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
        .collect()
}
