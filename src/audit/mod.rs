//! The audit log: one row per write, in the same transaction as the write,
//! naming the actor (API key, CLI or system), the action, the resource and
//! the request id. Never holds personal data: details carry ids and changed
//! field names, not values of phone/email.

mod routes;

use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::http::request_id;
use crate::ids::{ApiKeyId, WorkspaceId};
use crate::keys::auth::Auth;

pub use routes::router;

/// Who did something.
#[derive(Debug, Clone, Copy)]
pub enum Actor {
    /// An API key.
    Key(ApiKeyId),
    /// The command line (`shequn ...`).
    Cli,
    /// Shequn itself (bootstrap, workers).
    System,
}

impl From<&Auth> for Actor {
    fn from(a: &Auth) -> Self {
        Actor::Key(a.key_id)
    }
}

impl Actor {
    /// `(actor_type, actor_id)` as stored.
    pub fn parts(self) -> (&'static str, Option<Uuid>) {
        match self {
            Actor::Key(id) => ("api_key", Some(id.0)),
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
