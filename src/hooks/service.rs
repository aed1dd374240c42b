//! Processing stored requests: normalise with the connector, ingest the
//! events, record each request's outcome.
//!
//! Two modes (`ingest.webhook_mode`):
//! - `queued` (default): the webhook answers after one durable insert into
//!   the inbox; the processor claims `received` rows in batches
//!   (`FOR UPDATE SKIP LOCKED`, so instances cooperate and a crash only
//!   leaves rows to claim again), ingests all their events per workspace in
//!   one call and commits once. If a batch fails, its rows are retried one by
//!   one so a single bad row cannot stall the others; a row failing
//!   `MAX_ATTEMPTS` times is marked `failed`.
//! - `inline`: store and process in one transaction, processing under a
//!   savepoint (a processing fault commits the raw request alone, `received`).
//!
//! A bad payload is never an error here: it is recorded as `failed` with its
//! reason, for `GET /v1/inbox?status=failed` and replay.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::inbox::{self, InboxRaw, InboxStatus};
use crate::connections::cache::ConnectionCache;
use crate::connections::repo::ConnectionRecord;
use crate::events::model::{ItemStatus, NewEvent};
use crate::events::Ingestion;
use crate::groups::model::GroupStatus;
use crate::ids::{GroupId, InboxId, WorkspaceId};
use crate::platforms::inbound::{Normalized, Stored};
use crate::state::AppState;

/// Attempts before a request that keeps faulting is marked failed.
pub const MAX_ATTEMPTS: i32 = 5;

/// What processing did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Outcome {
    pub inbox_id: Option<InboxId>,
    /// `received` (queued), `processed` or `failed`.
    pub status: InboxStatus,
    pub accepted: usize,
    pub duplicates: usize,
    pub rejected: usize,
    pub errors: Vec<String>,
}

/// What storing and processing webhook requests needs: the shared state,
/// this process's inbox writers and connection cache, and what storing
/// events needs.
#[derive(Clone, Copy)]
pub struct Webhooks<'a> {
    pub state: &'a AppState,
    pub inbox: &'a super::Inbox,
    pub connections: &'a ConnectionCache,
    pub ingestion: &'a Ingestion,
}

/// One request's normalisation, waiting for the batch's ingest.
struct Pending {
    ws: WorkspaceId,
    id: InboxId,
    events: std::ops::Range<usize>,
    outcome: Outcome,
}

/// Registers and dismisses the groups a request names.
async fn apply_groups(
    tx: &mut PgConnection,
    ws: WorkspaceId,
    n: &Normalized,
    ctx: &Ingestion,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let refs: Vec<_> =
        n.groups.iter().chain(&n.dismissed).map(|g| (g.platform, g.external_id.clone(), g.name.clone())).collect();
    let ids = crate::groups::repo::ensure_by_external(tx, ws, &refs, &ctx.ids.groups, now).await?;
    for g in &n.dismissed {
        if let Some(gid) = ids.get(&(g.platform, g.external_id.clone())) {
            crate::groups::repo::set_status(tx, ws, GroupId(*gid), GroupStatus::Dismissed, now).await?;
        }
    }
    Ok(())
}

/// Normalises, ingests and records a set of stored requests inside `tx`.
async fn process_rows(
    tx: &mut PgConnection,
    rows: Vec<InboxRaw>,
    records: &HashMap<uuid::Uuid, ConnectionRecord>,
    now: DateTime<Utc>,
    ctx: &Ingestion,
) -> anyhow::Result<Vec<Outcome>> {
    let mut events: HashMap<WorkspaceId, Vec<NewEvent>> = HashMap::new();
    let mut pending = Vec::with_capacity(rows.len());
    for row in rows {
        let mut outcome = Outcome { inbox_id: Some(row.id), ..Default::default() };
        let list = events.entry(row.workspace_id).or_default();
        let start = list.len();
        let record = records.get(&row.connection_id.0);
        match record.and_then(|r| crate::platforms::inbound_of(r.platform).map(|c| (r, c))) {
            None => outcome.errors.push("the connection is gone".into()),
            Some((record, connector)) => {
                let stored = Stored { query: row.query, headers: row.headers.0, body: row.body };
                match connector.normalize(&record.id.to_string(), &record.credential_sets(now), &stored, now) {
                    Err(reason) => outcome.errors.push(reason),
                    Ok(n) => {
                        apply_groups(tx, row.workspace_id, &n, ctx, now).await?;
                        outcome.errors.extend(n.rejected);
                        list.extend(n.events);
                    }
                }
            }
        }
        pending.push(Pending { ws: row.workspace_id, id: row.id, events: start..list.len(), outcome });
    }
    let mut results = HashMap::new();
    for (ws, list) in events {
        let items = list.into_iter().map(Ok).collect();
        results.insert(ws, crate::events::service::ingest(tx, ws, items, now, ctx).await?);
    }
    let mut outcomes = Vec::with_capacity(pending.len());
    let mut finished = Vec::with_capacity(pending.len());
    for mut p in pending {
        for r in results.get(&p.ws).map(|v| &v[p.events.clone()]).unwrap_or(&[]) {
            match r.status {
                ItemStatus::Accepted => p.outcome.accepted += 1,
                ItemStatus::Duplicate => p.outcome.duplicates += 1,
                ItemStatus::Rejected => {
                    p.outcome.rejected += 1;
                    p.outcome.errors.push(format!(
                        "event {}: {}",
                        r.index - p.events.start,
                        r.reason.clone().unwrap_or_default()
                    ));
                }
            }
        }
        let error = (!p.outcome.errors.is_empty()).then(|| p.outcome.errors.join("; "));
        p.outcome.status = if error.is_none() { InboxStatus::Processed } else { InboxStatus::Failed };
        finished.push(inbox::Finished {
            ws: p.ws,
            id: p.id,
            error,
            accepted: p.outcome.accepted as i32,
            duplicate: p.outcome.duplicates as i32,
        });
        outcomes.push(p.outcome);
    }
    inbox::finish_many(tx, &finished, now).await?;
    Ok(outcomes)
}

async fn records_for(
    conn: &mut PgConnection,
    rows: &[InboxRaw],
) -> Result<HashMap<uuid::Uuid, ConnectionRecord>, sqlx::Error> {
    let mut records = HashMap::new();
    for row in rows {
        if let std::collections::hash_map::Entry::Vacant(e) = records.entry(row.connection_id.0) {
            if let Some(r) = crate::connections::repo::record(conn, row.connection_id.0).await? {
                e.insert(r);
            }
        }
    }
    Ok(records)
}

/// Stores a verified request (queued mode): durable when this returns. The
/// insert is group-committed with concurrent requests (see [`super::intake`]).
pub async fn store(
    w: &Webhooks<'_>,
    record: &ConnectionRecord,
    query: &str,
    headers: &serde_json::Map<String, serde_json::Value>,
    body: &[u8],
) -> Result<Outcome, anyhow::Error> {
    let row = super::intake::NewRow {
        ws: record.workspace_id,
        connection: record.id,
        platform: record.platform,
        query: query.to_owned(),
        headers: headers.clone(),
        body: body.to_vec(),
    };
    let id = w.inbox.intake.store(row).await.map_err(anyhow::Error::msg)?;
    w.inbox.wakeup.notify_one();
    note_received(w, record, w.state.clock.now()).await;
    Ok(Outcome { inbox_id: Some(id), status: InboxStatus::Received, ..Default::default() })
}

/// Stores and processes a verified request in one transaction (inline mode).
pub async fn store_and_process(
    w: &Webhooks<'_>,
    record: &ConnectionRecord,
    query: &str,
    headers: &serde_json::Map<String, serde_json::Value>,
    body: &[u8],
) -> Result<Outcome, sqlx::Error> {
    let now = w.state.clock.now();
    let mut tx = crate::db::begin(&w.state.pool).await?;
    let id = inbox::insert(&mut tx, record.workspace_id, record.id, record.platform, query, headers, body).await?;
    let row = InboxRaw {
        id,
        workspace_id: record.workspace_id,
        connection_id: record.id,
        query: query.to_owned(),
        headers: sqlx::types::Json(headers.clone()),
        body: body.to_vec(),
    };
    let records = HashMap::from([(record.id.0, record.clone())]);
    // Processing in a nested transaction (a savepoint): if it fails, the
    // stored request stays and the processor retries it.
    let mut processing = sqlx::Connection::begin(&mut *tx).await?;
    let outcome = match process_rows(&mut processing, vec![row], &records, now, w.ingestion).await {
        Ok(mut o) => {
            processing.commit().await?;
            o.pop().unwrap_or_default()
        }
        Err(e) => {
            tracing::error!(error = ?e, %id, "webhook stored but not processed; the processor will retry");
            processing.rollback().await?;
            Outcome { inbox_id: Some(id), status: InboxStatus::Received, ..Default::default() }
        }
    };
    tx.commit().await?;
    note_received(w, record, now).await;
    Ok(outcome)
}

/// Records when a connection last received a request: at most once a minute,
/// outside any request transaction, best effort.
async fn note_received(w: &Webhooks<'_>, record: &ConnectionRecord, now: DateTime<Utc>) {
    if record.last_received_at.is_some_and(|t| now - t < chrono::Duration::seconds(60))
        || !w.connections.should_touch(record.id.0, std::time::Duration::from_secs(60))
    {
        return;
    }
    if let Ok(mut conn) = w.state.pool.acquire().await {
        if let Err(e) = crate::connections::repo::touch(&mut conn, record.workspace_id, record.id, now).await {
            tracing::warn!(error = %e, "could not record the connection's last request");
        }
    }
}

/// Processes one batch of unprocessed requests; returns how many were handled.
pub async fn process_batch(w: &Webhooks<'_>, limit: i64) -> anyhow::Result<usize> {
    let now = w.state.clock.now();
    let mut tx = crate::db::begin(&w.state.pool).await?;
    let rows = inbox::claim(&mut tx, limit).await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let count = rows.len();
    let keys: Vec<(WorkspaceId, InboxId)> = rows.iter().map(|r| (r.workspace_id, r.id)).collect();
    let records = records_for(&mut tx, &rows).await?;
    match process_rows(&mut tx, rows, &records, now, w.ingestion).await {
        Ok(_) => {
            tx.commit().await?;
            Ok(count)
        }
        Err(e) => {
            tracing::warn!(error = ?e, rows = count, "inbox batch failed; retrying its requests one by one");
            drop(tx);
            for (ws, id) in keys {
                if let Err(e) = process(w, ws, id).await {
                    let mut conn = w.state.pool.acquire().await?;
                    inbox::note_attempt_error(&mut conn, ws, id, &format!("{e:#}"), MAX_ATTEMPTS).await?;
                }
            }
            Ok(count)
        }
    }
}

/// Processes one stored request (replay, retries); `Ok(None)` when another processor holds it.
pub async fn process(w: &Webhooks<'_>, ws: WorkspaceId, id: InboxId) -> anyhow::Result<Option<Outcome>> {
    let now = w.state.clock.now();
    let mut tx = crate::db::begin(&w.state.pool).await?;
    let Some(row) = inbox::lock(&mut tx, ws, id).await? else { return Ok(None) };
    let records = records_for(&mut tx, std::slice::from_ref(&row)).await?;
    let outcome = process_rows(&mut tx, vec![row], &records, now, w.ingestion).await?.pop().unwrap_or_default();
    tx.commit().await?;
    Ok(Some(outcome))
}
