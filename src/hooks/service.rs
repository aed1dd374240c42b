//! Processing a stored request: normalise it with its connector, ingest the
//! events, record the outcome.
//!
//! The webhook path stores and processes in one transaction: the raw request
//! is inserted, processing runs under a savepoint, and one commit makes both
//! durable. If processing errors (a database fault, not a bad payload), the
//! transaction rolls back to the savepoint and commits the raw request alone,
//! still `received`, for the recovery worker. A bad payload is recorded as
//! `failed` with its error. Replays and the worker process in a transaction
//! of their own, claiming the row with `FOR UPDATE SKIP LOCKED`.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::connectors::{self, Stored};
use super::inbox;
use crate::connections::repo::ConnectionRecord;
use crate::events::model::ItemStatus;
use crate::groups::model::GroupStatus;
use crate::ids::{InboxId, WorkspaceId};
use crate::state::AppState;

/// What processing did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Outcome {
    pub inbox_id: Option<InboxId>,
    pub processed: bool,
    pub accepted: usize,
    pub duplicates: usize,
    pub rejected: usize,
    pub errors: Vec<String>,
}

/// Normalises and ingests one stored request inside `tx`, recording its outcome.
async fn process_in(
    tx: &mut PgConnection,
    record: &ConnectionRecord,
    id: InboxId,
    stored: &Stored,
    now: DateTime<Utc>,
) -> anyhow::Result<Outcome> {
    let ws = record.workspace_id;
    let connector = connectors::for_platform(record.platform).ok_or_else(|| anyhow::anyhow!("no connector"))?;
    let mut outcome = Outcome { inbox_id: Some(id), ..Default::default() };
    match connector.normalize(&record.id.to_string(), &record.credential_sets(now), stored, now) {
        Err(reason) => outcome.errors.push(reason),
        Ok(n) => {
            let refs: Vec<_> = n
                .groups
                .iter()
                .chain(&n.dismissed)
                .map(|g| (g.platform, g.external_id.clone(), g.name.clone()))
                .collect();
            let ids = crate::groups::repo::ensure_by_external(tx, ws, &refs).await?;
            for g in &n.dismissed {
                if let Some(gid) = ids.get(&(g.platform, g.external_id.clone())) {
                    crate::groups::repo::set_status(tx, ws, *gid, GroupStatus::Dismissed).await?;
                }
            }
            outcome.errors.extend(n.rejected);
            let items = n.events.into_iter().map(Ok).collect();
            for r in crate::events::service::ingest(tx, ws, items, now).await? {
                match r.status {
                    ItemStatus::Accepted => outcome.accepted += 1,
                    ItemStatus::Duplicate => outcome.duplicates += 1,
                    ItemStatus::Rejected => {
                        outcome.rejected += 1;
                        outcome.errors.push(format!("event {}: {}", r.index, r.reason.unwrap_or_default()));
                    }
                }
            }
        }
    }
    let error = (!outcome.errors.is_empty()).then(|| outcome.errors.join("; "));
    inbox::finish(tx, ws, id, error.as_deref(), outcome.accepted as i32, outcome.duplicates as i32, now).await?;
    outcome.processed = error.is_none();
    Ok(outcome)
}

/// Stores a verified request and processes it; `Ok` means it is durably stored.
pub async fn store_and_process(
    state: &AppState,
    record: &ConnectionRecord,
    query: &str,
    headers: &serde_json::Map<String, serde_json::Value>,
    body: &[u8],
) -> Result<Outcome, sqlx::Error> {
    let now = state.clock.now();
    let mut tx = state.pool.begin().await?;
    let id = inbox::insert(&mut tx, record.workspace_id, record.id, record.platform, query, headers, body).await?;
    sqlx::query("SAVEPOINT processing").execute(&mut *tx).await?;
    let stored = Stored { query: query.to_owned(), headers: headers.clone(), body: body.to_vec() };
    let outcome = match process_in(&mut tx, record, id, &stored, now).await {
        Ok(o) => o,
        Err(e) => {
            tracing::error!(error = ?e, %id, "webhook stored but not processed; the recovery worker will retry");
            sqlx::query("ROLLBACK TO SAVEPOINT processing").execute(&mut *tx).await?;
            Outcome { inbox_id: Some(id), ..Default::default() }
        }
    };
    tx.commit().await?;
    note_received(state, record, now).await;
    Ok(outcome)
}

/// Records when a connection last received a request: at most once a minute,
/// outside the request's transaction (so concurrent webhooks never queue on
/// the connection's row), and best effort.
async fn note_received(state: &AppState, record: &ConnectionRecord, now: DateTime<Utc>) {
    if record.last_received_at.is_some_and(|t| now - t < chrono::Duration::seconds(60)) {
        return;
    }
    if let Ok(mut conn) = state.pool.acquire().await {
        if let Err(e) = crate::connections::repo::touch(&mut conn, record.workspace_id, record.id, now).await {
            tracing::warn!(error = %e, "could not record the connection's last request");
        }
    }
}

/// Processes one stored request (worker, replay); `Ok(None)` when another worker holds it.
pub async fn process(state: &AppState, ws: WorkspaceId, id: InboxId) -> anyhow::Result<Option<Outcome>> {
    let now = state.clock.now();
    let mut tx = state.pool.begin().await?;
    let Some(raw) = inbox::lock(&mut tx, ws, id).await? else { return Ok(None) };
    let record = crate::connections::repo::record(&mut tx, raw.connection_id.0)
        .await?
        .ok_or_else(|| anyhow::anyhow!("connection {} is gone", raw.connection_id))?;
    let stored = Stored { query: raw.query, headers: raw.headers.0, body: raw.body };
    let outcome = process_in(&mut tx, &record, id, &stored, now).await?;
    tx.commit().await?;
    note_received(state, &record, now).await;
    Ok(Some(outcome))
}
