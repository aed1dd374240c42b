//! All SQL of outbound webhooks' endpoints, messages and attempts (the
//! outbox insert is `outbox`; the claim and record of the workers are
//! `queue`).

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use super::model::{DispatchStatus, MessageId, WebhookAttempt, WebhookDispatch, WebhookEndpoint, WebhookMessage};
use crate::ids::{EndpointId, WorkspaceId};

const ENDPOINT: &str = "SELECT id, url, description, event_types, enabled, include_pii, created_at, updated_at,
    last_success_at, last_failure_at, failing_since, disabled_reason, disabled_at,
    CASE WHEN previous_secret IS NOT NULL THEN previous_secret_expires_at END AS previous_secret_expires_at
    FROM webhook_endpoints";

#[derive(FromRow)]
struct EndpointRow {
    id: EndpointId,
    url: String,
    description: String,
    event_types: Vec<String>,
    enabled: bool,
    include_pii: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    last_success_at: Option<DateTime<Utc>>,
    last_failure_at: Option<DateTime<Utc>>,
    failing_since: Option<DateTime<Utc>>,
    disabled_reason: Option<String>,
    disabled_at: Option<DateTime<Utc>>,
    previous_secret_expires_at: Option<DateTime<Utc>>,
}

impl From<EndpointRow> for WebhookEndpoint {
    fn from(r: EndpointRow) -> Self {
        WebhookEndpoint {
            id: r.id,
            url: r.url,
            description: r.description,
            event_types: r.event_types,
            enabled: r.enabled,
            include_pii: r.include_pii,
            created_at: r.created_at,
            updated_at: r.updated_at,
            last_success_at: r.last_success_at,
            last_failure_at: r.last_failure_at,
            failing_since: r.failing_since,
            disabled_reason: r.disabled_reason,
            disabled_at: r.disabled_at,
            previous_secret_expires_at: r.previous_secret_expires_at,
        }
    }
}

/// Endpoints, newest first, after the cursor.
pub async fn list_endpoints(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<WebhookEndpoint>, sqlx::Error> {
    let rows: Vec<EndpointRow> = sqlx::query_as(&format!(
        "{ENDPOINT} WHERE workspace_id = $1 AND ($2::uuid IS NULL OR id < $2) ORDER BY id DESC LIMIT $3"
    ))
    .bind(ws)
    .bind(after)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(WebhookEndpoint::from).collect())
}

/// One endpoint (locked for update when `lock`).
pub async fn get_endpoint(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    id: EndpointId,
    lock: bool,
) -> Result<Option<WebhookEndpoint>, sqlx::Error> {
    let lock = if lock { " FOR NO KEY UPDATE" } else { "" };
    let row: Option<EndpointRow> = sqlx::query_as(&format!("{ENDPOINT} WHERE workspace_id = $1 AND id = $2{lock}"))
        .bind(ws)
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(WebhookEndpoint::from))
}

/// Stores a new endpoint with its secret.
pub async fn insert_endpoint(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    e: &WebhookEndpoint,
    secret: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO webhook_endpoints (workspace_id, id, url, description, event_types, enabled, include_pii, secret,
                                        created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
    )
    .bind(ws)
    .bind(e.id)
    .bind(&e.url)
    .bind(&e.description)
    .bind(&e.event_types)
    .bind(e.enabled)
    .bind(e.include_pii)
    .bind(secret)
    .bind(e.created_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Saves an endpoint's editable fields and its failure record.
pub async fn save_endpoint(conn: &mut PgConnection, ws: WorkspaceId, e: &WebhookEndpoint) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE webhook_endpoints SET url = $3, description = $4, event_types = $5, enabled = $6, include_pii = $7,
                failing_since = $8, disabled_reason = $9, disabled_at = $10, updated_at = $11
         WHERE workspace_id = $1 AND id = $2",
    )
    .bind(ws)
    .bind(e.id)
    .bind(&e.url)
    .bind(&e.description)
    .bind(&e.event_types)
    .bind(e.enabled)
    .bind(e.include_pii)
    .bind(e.failing_since)
    .bind(&e.disabled_reason)
    .bind(e.disabled_at)
    .bind(e.updated_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Deletes an endpoint with its dispatches and attempts.
pub async fn delete_endpoint(conn: &mut PgConnection, ws: WorkspaceId, id: EndpointId) -> Result<bool, sqlx::Error> {
    let r = sqlx::query("DELETE FROM webhook_endpoints WHERE workspace_id = $1 AND id = $2")
        .bind(ws)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Replaces the secret; the current one stays valid until `until`.
pub async fn rotate_secret(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    id: EndpointId,
    secret: &str,
    until: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE webhook_endpoints SET previous_secret = secret, previous_secret_expires_at = $4, secret = $3,
                updated_at = now()
         WHERE workspace_id = $1 AND id = $2",
    )
    .bind(ws)
    .bind(id)
    .bind(secret)
    .bind(until)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Fails the waiting dispatches of an endpoint (it was disabled).
pub async fn fail_waiting(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    id: EndpointId,
    error: &str,
) -> Result<u64, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE webhook_dispatches SET status = 'failed', lease_until = NULL, last_error = $3
         WHERE workspace_id = $1 AND endpoint_id = $2 AND status = 'pending'",
    )
    .bind(ws)
    .bind(id)
    .bind(error)
    .execute(conn)
    .await?;
    Ok(r.rows_affected())
}

/// Message filters.
#[derive(Debug, Default)]
pub struct MessageFilter {
    pub kind: Option<String>,
    pub endpoint_id: Option<EndpointId>,
    pub status: Option<DispatchStatus>,
    pub since: Option<DateTime<Utc>>,
}

#[derive(FromRow)]
struct MessageRow {
    id: Uuid,
    #[sqlx(rename = "type")]
    kind: String,
    occurred_at: DateTime<Utc>,
    data: sqlx::types::Json<serde_json::Value>,
    created_at: DateTime<Utc>,
}

#[derive(FromRow)]
struct DispatchRow {
    message_id: Uuid,
    endpoint_id: EndpointId,
    status: DispatchStatus,
    attempts: i32,
    next_attempt_at: DateTime<Utc>,
    last_attempt_at: Option<DateTime<Utc>>,
    last_status_code: Option<i32>,
    last_error: Option<String>,
}

/// Messages, newest first, after the cursor: with an endpoint or a status,
/// those having a dispatch that matches.
pub async fn list_messages(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    f: &MessageFilter,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<WebhookMessage>, sqlx::Error> {
    let rows: Vec<MessageRow> = sqlx::query_as(
        "SELECT m.id, m.type, m.occurred_at, m.data, m.created_at FROM webhook_messages m
         WHERE m.workspace_id = $1 AND ($2::uuid IS NULL OR m.id < $2)
           AND ($3::text IS NULL OR m.type = $3) AND ($4::timestamptz IS NULL OR m.created_at >= $4)
           AND ($5::uuid IS NULL AND $6::text IS NULL OR EXISTS (
                SELECT 1 FROM webhook_dispatches d WHERE d.workspace_id = m.workspace_id AND d.message_id = m.id
                AND ($5::uuid IS NULL OR d.endpoint_id = $5) AND ($6::text IS NULL OR d.status = $6)))
         ORDER BY m.id DESC LIMIT $7",
    )
    .bind(ws)
    .bind(after)
    .bind(&f.kind)
    .bind(f.since)
    .bind(f.endpoint_id)
    .bind(f.status)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut dispatches = dispatches_of(conn, ws, &ids).await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let mine = dispatches.remove(&r.id).unwrap_or_default();
            message(r, mine)
        })
        .collect())
}

fn message(r: MessageRow, endpoints: Vec<WebhookDispatch>) -> WebhookMessage {
    WebhookMessage {
        id: MessageId(r.id),
        kind: r.kind,
        timestamp: r.occurred_at,
        data: r.data.0,
        created_at: r.created_at,
        endpoints,
        attempts: None,
    }
}

async fn dispatches_of(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    ids: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, Vec<WebhookDispatch>>, sqlx::Error> {
    let rows: Vec<DispatchRow> = sqlx::query_as(
        "SELECT message_id, endpoint_id, status, attempts, next_attempt_at, last_attempt_at, last_status_code, last_error
         FROM webhook_dispatches WHERE workspace_id = $1 AND message_id = ANY($2) ORDER BY message_id, endpoint_id",
    )
    .bind(ws)
    .bind(ids)
    .fetch_all(conn)
    .await?;
    let mut out: std::collections::HashMap<Uuid, Vec<WebhookDispatch>> = std::collections::HashMap::new();
    for d in rows {
        out.entry(d.message_id).or_default().push(WebhookDispatch {
            endpoint_id: d.endpoint_id,
            next_attempt_at: (d.status == DispatchStatus::Pending).then_some(d.next_attempt_at),
            status: d.status,
            attempts: d.attempts,
            last_attempt_at: d.last_attempt_at,
            last_status_code: d.last_status_code,
            last_error: d.last_error,
        });
    }
    Ok(out)
}

/// Whether the message is in the workspace.
pub async fn message_exists(conn: &mut PgConnection, ws: WorkspaceId, id: MessageId) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM webhook_messages WHERE workspace_id = $1 AND id = $2)")
        .bind(ws)
        .bind(id.0)
        .fetch_one(conn)
        .await
}

/// One message with its dispatches and every attempt.
pub async fn get_message(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    id: MessageId,
) -> Result<Option<WebhookMessage>, sqlx::Error> {
    let row: Option<MessageRow> = sqlx::query_as(
        "SELECT id, type, occurred_at, data, created_at FROM webhook_messages WHERE workspace_id = $1 AND id = $2",
    )
    .bind(ws)
    .bind(id.0)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let mut d = dispatches_of(conn, ws, &[id.0]).await?;
    let attempts: Vec<WebhookAttempt> = sqlx::query_as(
        "SELECT endpoint_id, number, started_at, latency_ms, status_code, response, error FROM webhook_attempts
         WHERE workspace_id = $1 AND message_id = $2 ORDER BY started_at, endpoint_id, number",
    )
    .bind(ws)
    .bind(id.0)
    .fetch_all(conn)
    .await?;
    let mut m = message(row, d.remove(&id.0).unwrap_or_default());
    m.attempts = Some(attempts);
    Ok(Some(m))
}

/// Sends a message again now: to `endpoint` (creating its dispatch if it had
/// none), or to every endpoint that had it; the retry schedule restarts.
/// Dispatches in flight are left alone. Returns how many were queued.
pub async fn retry(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    id: MessageId,
    endpoint: Option<EndpointId>,
    now: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    if let Some(e) = endpoint {
        sqlx::query(
            "INSERT INTO webhook_dispatches (workspace_id, message_id, endpoint_id, status, next_attempt_at)
             VALUES ($1, $2, $3, 'pending', $4) ON CONFLICT DO NOTHING",
        )
        .bind(ws)
        .bind(id.0)
        .bind(e)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    let r = sqlx::query(
        "UPDATE webhook_dispatches SET status = 'pending', next_attempt_at = $4, schedule_base = attempts,
                lease_until = NULL
         WHERE workspace_id = $1 AND message_id = $2 AND ($3::uuid IS NULL OR endpoint_id = $3) AND status <> 'sending'",
    )
    .bind(ws)
    .bind(id.0)
    .bind(endpoint)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected())
}

/// Queues again every failed message of an endpoint created since `since`.
pub async fn recover(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    endpoint: EndpointId,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE webhook_dispatches d SET status = 'pending', next_attempt_at = $4, schedule_base = d.attempts
         FROM webhook_messages m
         WHERE d.workspace_id = $1 AND d.endpoint_id = $2 AND d.status = 'failed'
           AND m.workspace_id = d.workspace_id AND m.id = d.message_id AND m.created_at >= $3",
    )
    .bind(ws)
    .bind(endpoint)
    .bind(since)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(r.rows_affected())
}
