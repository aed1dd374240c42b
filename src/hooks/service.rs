//! Processing a stored request: normalise it with its connector, ingest the
//! events, record the outcome — all in one transaction, so a crash leaves the
//! request `received` for the worker to retry, never half-applied.

use sqlx::PgPool;

use super::connectors::{self, Stored};
use super::inbox;
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

/// Processes one stored request; `Ok(None)` when another worker holds it.
pub async fn process(state: &AppState, ws: WorkspaceId, id: InboxId) -> anyhow::Result<Option<Outcome>> {
    process_with(&state.pool, state.clock.now(), ws, id).await
}

async fn process_with(
    pool: &PgPool,
    now: chrono::DateTime<chrono::Utc>,
    ws: WorkspaceId,
    id: InboxId,
) -> anyhow::Result<Option<Outcome>> {
    let mut tx = pool.begin().await?;
    let Some(raw) = inbox::lock(&mut tx, ws, id).await? else { return Ok(None) };
    let record = crate::connections::repo::record(&mut tx, raw.connection_id.0)
        .await?
        .ok_or_else(|| anyhow::anyhow!("connection {} is gone", raw.connection_id))?;
    let connector = connectors::for_platform(record.platform).ok_or_else(|| anyhow::anyhow!("no connector"))?;
    let stored = Stored { query: raw.query, headers: raw.headers.0, body: raw.body };
    let mut outcome = Outcome { inbox_id: Some(id), ..Default::default() };
    match connector.normalize(&record.id.to_string(), &record.credential_sets(now), &stored, now) {
        Err(reason) => outcome.errors.push(reason),
        Ok(n) => {
            let refs: Vec<_> = n
                .groups
                .iter()
                .chain(&n.dismissed)
                .map(|g| (g.platform, g.external_id.clone(), g.name.clone()))
                .collect();
            let ids = crate::groups::repo::ensure_by_external(&mut tx, ws, &refs).await?;
            for g in &n.dismissed {
                if let Some(gid) = ids.get(&(g.platform, g.external_id.clone())) {
                    crate::groups::repo::set_status(&mut tx, ws, *gid, GroupStatus::Dismissed).await?;
                }
            }
            outcome.errors.extend(n.rejected);
            let items = n.events.into_iter().map(Ok).collect();
            for r in crate::events::service::ingest(&mut tx, ws, items, now).await? {
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
    inbox::finish(&mut tx, ws, id, error.as_deref(), outcome.accepted as i32, outcome.duplicates as i32, now).await?;
    crate::connections::repo::touch(&mut tx, ws, record.id, now).await?;
    tx.commit().await?;
    outcome.processed = error.is_none();
    Ok(Some(outcome))
}
