//! All SQL of connections.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use super::model::{Connection, ConnectionStatus, CreateConnection, UpdateConnection};
use crate::ids::{ConnectionId, WorkspaceId};
use crate::platform::Platform;

#[derive(FromRow)]
struct Row {
    id: ConnectionId,
    platform: Platform,
    name: String,
    status: ConnectionStatus,
    settings: Json<serde_json::Value>,
    previous_valid_until: Option<DateTime<Utc>>,
    last_received_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Row> for Connection {
    fn from(r: Row) -> Self {
        Connection {
            webhook_url: format!("/hooks/{}/{}", r.platform.as_str(), r.id),
            id: r.id,
            platform: r.platform,
            name: r.name,
            status: r.status,
            settings: r.settings.0,
            previous_valid_until: r.previous_valid_until,
            last_received_at: r.last_received_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

const COLUMNS: &str =
    "id, platform, name, status, settings, previous_valid_until, last_received_at, created_at, updated_at";

/// Everything webhook handling needs, secrets included (never serialised).
#[derive(Clone, FromRow)]
pub struct ConnectionRecord {
    pub workspace_id: WorkspaceId,
    pub id: ConnectionId,
    pub platform: Platform,
    pub status: ConnectionStatus,
    pub credentials: Json<serde_json::Value>,
    pub previous_credentials: Option<Json<serde_json::Value>>,
    pub previous_valid_until: Option<DateTime<Utc>>,
    pub settings: Json<serde_json::Value>,
    pub last_received_at: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for ConnectionRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionRecord")
            .field("id", &self.id)
            .field("platform", &self.platform)
            .finish_non_exhaustive()
    }
}

impl ConnectionRecord {
    /// The credential sets accepted at `now`: the current one, then the previous one during its grace.
    pub fn credential_sets(&self, now: DateTime<Utc>) -> Vec<&serde_json::Value> {
        let mut sets = vec![&self.credentials.0];
        if let (Some(prev), Some(until)) = (&self.previous_credentials, self.previous_valid_until) {
            if now < until {
                sets.push(&prev.0);
            }
        }
        sets
    }
}

/// A connection by id alone (webhooks), with its secrets.
pub async fn record(conn: &mut PgConnection, id: Uuid) -> Result<Option<ConnectionRecord>, sqlx::Error> {
    sqlx::query_as(
        "SELECT workspace_id, id, platform, status, credentials, previous_credentials, previous_valid_until, settings,
                last_received_at
         FROM connections WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// Connections, newest first.
pub async fn list(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Connection>, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM connections WHERE workspace_id = $1 AND ($2::uuid IS NULL OR id < $2) ORDER BY id DESC LIMIT $3"
    ))
    .bind(ws)
    .bind(after)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(Connection::from).collect())
}

/// One connection.
pub async fn get(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    id: ConnectionId,
) -> Result<Option<Connection>, sqlx::Error> {
    let row: Option<Row> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM connections WHERE workspace_id = $1 AND id = $2"))
            .bind(ws)
            .bind(id)
            .fetch_optional(conn)
            .await?;
    Ok(row.map(Connection::from))
}

/// Inserts a connection.
pub async fn insert(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    c: &CreateConnection,
) -> Result<ConnectionId, sqlx::Error> {
    let id = ConnectionId::new();
    sqlx::query("INSERT INTO connections (workspace_id, id, platform, name, credentials, settings) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(ws)
        .bind(id)
        .bind(c.platform)
        .bind(c.name.trim())
        .bind(Json(&c.credentials))
        .bind(Json(c.settings.clone().unwrap_or_else(|| serde_json::json!({}))))
        .execute(conn)
        .await?;
    Ok(id)
}

/// Applies a patch; `false` when missing.
pub async fn update(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    id: ConnectionId,
    p: &UpdateConnection,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE connections SET name = COALESCE($3, name), status = COALESCE($4, status), settings = COALESCE($5, settings),
             updated_at = now()
         WHERE workspace_id = $1 AND id = $2",
    )
    .bind(ws)
    .bind(id)
    .bind(p.name.as_deref().map(str::trim))
    .bind(p.status)
    .bind(p.settings.as_ref().map(Json))
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Makes `creds` current, keeping the old ones valid until `until`.
pub async fn rotate(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    id: ConnectionId,
    creds: &serde_json::Value,
    until: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE connections SET previous_credentials = credentials, previous_valid_until = $4, credentials = $3, updated_at = now()
         WHERE workspace_id = $1 AND id = $2",
    )
    .bind(ws)
    .bind(id)
    .bind(Json(creds))
    .bind(until)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Deletes a connection (and its inbox); `false` when missing.
pub async fn delete(conn: &mut PgConnection, ws: WorkspaceId, id: ConnectionId) -> Result<bool, sqlx::Error> {
    let r = sqlx::query("DELETE FROM connections WHERE workspace_id = $1 AND id = $2")
        .bind(ws)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Records that a webhook arrived.
pub async fn touch(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    id: ConnectionId,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE connections SET last_received_at = $3
         WHERE workspace_id = $1 AND id = $2 AND (last_received_at IS NULL OR last_received_at < $3 - interval '60 seconds')",
    )
        .bind(ws)
        .bind(id)
        .bind(at)
        .execute(conn)
        .await?;
    Ok(())
}

/// The connections of a workspace that cap SOP messages per group and local
/// day (`settings.group_daily_cap`), with their caps.
pub async fn daily_caps(conn: &mut PgConnection, ws: WorkspaceId) -> Result<Vec<(Uuid, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, (settings->>'group_daily_cap')::bigint FROM connections
         WHERE workspace_id = $1 AND settings ? 'group_daily_cap' AND jsonb_typeof(settings->'group_daily_cap') = 'number'",
    )
    .bind(ws)
    .fetch_all(conn)
    .await
}

/// An active connection with its credentials and settings (secrets: no `Debug`).
#[derive(FromRow)]
pub struct ActiveConnection {
    pub id: Uuid,
    pub platform: Platform,
    pub credentials: Json<serde_json::Value>,
    pub settings: Json<serde_json::Value>,
}

/// A workspace's active connections, oldest first.
pub async fn active_with_credentials(
    conn: &mut PgConnection,
    ws: WorkspaceId,
) -> Result<Vec<ActiveConnection>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, platform, credentials, settings
         FROM connections WHERE workspace_id = $1 AND status = 'active' ORDER BY id",
    )
    .bind(ws)
    .fetch_all(conn)
    .await
}
