//! The inbox: every verified webhook request, stored before it is
//! acknowledged, with its processing status. All its SQL lives here.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use sqlx::{FromRow, PgConnection};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::ids::{ConnectionId, InboxId, WorkspaceId};
use crate::platform::Platform;

/// Processing state of a stored request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum InboxStatus {
    /// Stored, not processed yet (or interrupted: the worker picks it up).
    #[default]
    Received,
    Processed,
    /// Could not be processed; the error says why. Replay after fixing.
    Failed,
}

/// A stored request as listed.
#[derive(Debug, Clone, Serialize, ToSchema, FromRow)]
pub struct InboxEntry {
    pub id: InboxId,
    pub connection_id: ConnectionId,
    pub platform: Platform,
    pub received_at: DateTime<Utc>,
    pub status: InboxStatus,
    pub attempts: i32,
    pub error: Option<String>,
    pub events_accepted: i32,
    pub events_duplicate: i32,
    pub processed_at: Option<DateTime<Utc>>,
}

/// A stored request with its content.
#[derive(Debug, Clone, FromRow)]
pub struct InboxRaw {
    pub id: InboxId,
    pub workspace_id: WorkspaceId,
    pub connection_id: ConnectionId,
    pub query: String,
    pub headers: Json<serde_json::Map<String, serde_json::Value>>,
    pub body: Vec<u8>,
}

const COLUMNS: &str =
    "id, connection_id, platform, received_at, status, attempts, error, events_accepted, events_duplicate, processed_at";

/// Stores a verified request.
pub async fn insert(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    connection: ConnectionId,
    platform: Platform,
    query: &str,
    headers: &serde_json::Map<String, serde_json::Value>,
    body: &[u8],
) -> Result<InboxId, sqlx::Error> {
    let id = InboxId::new();
    sqlx::query(
        "INSERT INTO inbox (workspace_id, id, connection_id, platform, query, headers, body) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(ws)
    .bind(id)
    .bind(connection)
    .bind(platform)
    .bind(query)
    .bind(Json(headers))
    .bind(body)
    .execute(conn)
    .await?;
    Ok(id)
}

/// Locks a request for processing; `None` when missing or being processed elsewhere.
pub async fn lock(conn: &mut PgConnection, ws: WorkspaceId, id: InboxId) -> Result<Option<InboxRaw>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, workspace_id, connection_id, query, headers, body FROM inbox
         WHERE workspace_id = $1 AND id = $2 FOR UPDATE SKIP LOCKED",
    )
    .bind(ws)
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// A processing outcome to record.
#[derive(Debug, Clone)]
pub struct Finished {
    pub ws: WorkspaceId,
    pub id: InboxId,
    pub error: Option<String>,
    pub accepted: i32,
    pub duplicate: i32,
}

/// Records many outcomes in one statement.
pub async fn finish_many(conn: &mut PgConnection, rows: &[Finished], at: DateTime<Utc>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE inbox i SET status = CASE WHEN u.err IS NULL THEN 'processed' ELSE 'failed' END, error = u.err,
             attempts = i.attempts + 1, events_accepted = u.acc, events_duplicate = u.dup, processed_at = $6
         FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::int4[], $5::int4[]) AS u(ws, id, err, acc, dup)
         WHERE i.workspace_id = u.ws AND i.id = u.id",
    )
    .bind(rows.iter().map(|r| r.ws).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.error.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.accepted).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.duplicate).collect::<Vec<_>>())
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

/// One entry.
pub async fn get(conn: &mut PgConnection, ws: WorkspaceId, id: InboxId) -> Result<Option<InboxEntry>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM inbox WHERE workspace_id = $1 AND id = $2"))
        .bind(ws)
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// Entries, newest first.
pub async fn list(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    status: Option<InboxStatus>,
    connection: Option<ConnectionId>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<InboxEntry>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM inbox WHERE workspace_id = $1 AND ($2::text IS NULL OR status = $2)
           AND ($3::uuid IS NULL OR connection_id = $3) AND ($4::uuid IS NULL OR id < $4)
         ORDER BY id DESC LIMIT $5"
    ))
    .bind(ws)
    .bind(status)
    .bind(connection)
    .bind(after)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Claims up to `limit` unprocessed requests (any workspace), oldest first;
/// rows another processor holds are skipped.
pub async fn claim(conn: &mut PgConnection, limit: i64) -> Result<Vec<InboxRaw>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, workspace_id, connection_id, query, headers, body FROM inbox
         WHERE status = 'received' ORDER BY received_at LIMIT $1 FOR UPDATE SKIP LOCKED",
    )
    // A polling claim: planned for the table as it is now, not as it was
    // when a cached plan was made (an idle inbox fills by thousands a second).
    .persistent(false)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Counts a failed attempt; after `max_attempts` the request is marked failed.
pub async fn note_attempt_error(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    id: InboxId,
    error: &str,
    max_attempts: i32,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE inbox SET attempts = attempts + 1, error = $3,
             status = CASE WHEN attempts + 1 >= $4 THEN 'failed' ELSE status END
         WHERE workspace_id = $1 AND id = $2",
    )
    .bind(ws)
    .bind(id)
    .bind(error)
    .bind(max_attempts)
    .execute(conn)
    .await?;
    Ok(())
}
