//! The transactional outbox: a feature that makes a change the operator's
//! systems must hear of calls [`emit`] on the connection of the transaction
//! that makes it. The message and one dispatch per enabled endpoint
//! subscribed to its type are inserted there, so they commit (or roll back)
//! with the change; the workers send them after the commit (woken by a
//! `NOTIFY` that is itself delivered only on commit). A message with no
//! subscribed endpoint is not stored.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use super::catalogue::Payload;
use crate::ids::{EndpointId, WorkspaceId};

/// The channel the workers listen on.
pub const CHANNEL: &str = "shequn_webhooks";

/// A message to emit.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub id: Uuid,
    pub kind: &'static str,
    /// The message's `timestamp`: when the change happened.
    pub at: DateTime<Utc>,
    pub data: Value,
    /// Personal fields merged into `data` for endpoints with `include_pii`.
    pub pii: Option<Value>,
}

impl Outgoing {
    /// A message of payload `p`, at `at`.
    pub fn new<P: Payload>(at: DateTime<Utc>, p: &P) -> Result<Self, sqlx::Error> {
        let data = serde_json::to_value(p).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        Ok(Self { id: Uuid::now_v7(), kind: P::TYPE, at, data, pii: None })
    }

    /// With personal fields (an object) for endpoints that include them.
    pub fn with_pii(mut self, pii: Value) -> Self {
        self.pii = Some(pii).filter(|v| v.as_object().is_some_and(|o| o.values().any(|v| !v.is_null())));
        self
    }
}

/// Which of `types` some enabled endpoint of the workspace subscribes to (a
/// cheap check before building payloads).
pub async fn subscribed(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    types: &[&'static str],
) -> Result<Vec<&'static str>, sqlx::Error> {
    let found: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT t FROM unnest($2::text[]) AS t
         WHERE EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.workspace_id = $1 AND e.enabled
                       AND (t = ANY(e.event_types) OR '*' = ANY(e.event_types)))",
    )
    .bind(ws)
    .bind(types)
    .fetch_all(conn)
    .await?;
    Ok(types.iter().copied().filter(|t| found.iter().any(|f| f == t)).collect())
}

/// Stores `messages` with a dispatch to every enabled endpoint subscribed to
/// each one's type (or only to `only`, whatever it subscribes to), due now,
/// in the caller's transaction; returns the dispatches created.
pub async fn emit_to(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    now: DateTime<Utc>,
    messages: &[Outgoing],
    only: Option<EndpointId>,
) -> Result<u64, sqlx::Error> {
    if messages.is_empty() {
        return Ok(0);
    }
    let ids: Vec<Uuid> = messages.iter().map(|m| m.id).collect();
    let kinds: Vec<&str> = messages.iter().map(|m| m.kind).collect();
    let ats: Vec<DateTime<Utc>> = messages.iter().map(|m| m.at).collect();
    let data: Vec<&Value> = messages.iter().map(|m| &m.data).collect();
    let pii: Vec<Option<&Value>> = messages.iter().map(|m| m.pii.as_ref()).collect();
    // The dispatches' foreign key to their message is checked at the end of
    // the statement, after the message rows of the CTE are in.
    let n = sqlx::query(
        "WITH m AS (SELECT * FROM unnest($2::uuid[], $3::text[], $4::timestamptz[], $5::jsonb[], $6::jsonb[])
                    AS m(id, type, occurred_at, data, pii)),
              subs AS (SELECT m.id AS message_id, e.id AS endpoint_id FROM m
                       JOIN webhook_endpoints e ON e.workspace_id = $1
                        AND CASE WHEN $8::uuid IS NULL
                                 THEN e.enabled AND (m.type = ANY(e.event_types) OR '*' = ANY(e.event_types))
                                 ELSE e.id = $8 END),
              ins AS (INSERT INTO webhook_messages (workspace_id, id, type, occurred_at, data, pii, created_at)
                      SELECT $1, m.id, m.type, m.occurred_at, m.data, m.pii, $7 FROM m
                      WHERE m.id IN (SELECT message_id FROM subs)
                      RETURNING id)
         INSERT INTO webhook_dispatches (workspace_id, message_id, endpoint_id, status, next_attempt_at)
         SELECT $1, subs.message_id, subs.endpoint_id, 'pending', $7 FROM subs JOIN ins ON ins.id = subs.message_id",
    )
    .bind(ws)
    .bind(&ids)
    .bind(&kinds)
    .bind(&ats)
    .bind(&data)
    .bind(&pii)
    .bind(now)
    .bind(only)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if n > 0 {
        wake(conn).await?;
    }
    Ok(n)
}

/// Stores `messages` for every subscribed endpoint (see [`emit_to`]).
pub async fn emit(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    now: DateTime<Utc>,
    messages: &[Outgoing],
) -> Result<u64, sqlx::Error> {
    emit_to(conn, ws, now, messages, None).await
}

/// Wakes the workers when the caller's transaction commits.
pub async fn wake(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, '')").bind(CHANNEL).execute(conn).await?;
    Ok(())
}

/// The workspaces with an enabled endpoint subscribed to `kind` (jobs that
/// only exist to announce something skip the others).
pub async fn subscribed_workspaces(conn: &mut PgConnection, kind: &str) -> Result<Vec<WorkspaceId>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT DISTINCT workspace_id FROM webhook_endpoints
         WHERE enabled AND ($1 = ANY(event_types) OR '*' = ANY(event_types)) ORDER BY workspace_id",
    )
    .bind(kind)
    .fetch_all(conn)
    .await
}
