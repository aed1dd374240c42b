//! Background jobs of `serve`, each a loop watching one cancellation token:
//! the inbox recovery worker (re-processes stored webhook requests that were
//! interrupted) and event-partition maintenance. Both are safe on several
//! instances: inbox rows are claimed with `FOR UPDATE SKIP LOCKED`, and
//! partition creation is idempotent under an advisory lock.

use std::time::Duration;

use chrono::Duration as ChronoDuration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::state::AppState;

/// Starts the configured jobs.
pub fn spawn_all(state: &AppState, token: &CancellationToken) -> Vec<JoinHandle<()>> {
    let w = &state.settings.workers;
    let mut handles = Vec::new();
    if w.inbox_recovery {
        handles.push(tokio::spawn(inbox_recovery(state.clone(), token.clone())));
    }
    if w.event_partitions {
        handles.push(tokio::spawn(event_partitions(state.clone(), token.clone())));
    }
    handles
}

/// One pass of the recovery worker: processes interrupted requests; returns how many.
pub async fn recover_inbox_once(state: &AppState) -> anyhow::Result<usize> {
    let stale = ChronoDuration::seconds(state.settings.workers.inbox_stale_secs as i64);
    let pending = {
        let mut conn = state.pool.acquire().await?;
        crate::hooks::inbox::pending(&mut conn, state.clock.now() - stale, 100).await?
    };
    let mut done = 0;
    for (ws, id) in pending {
        match crate::hooks::service::process(state, ws, id).await {
            Ok(Some(_)) => done += 1,
            Ok(None) => {}
            Err(e) => tracing::warn!(error = ?e, %id, "inbox recovery failed; will retry"),
        }
    }
    Ok(done)
}

async fn inbox_recovery(state: AppState, token: CancellationToken) {
    let every = Duration::from_secs(state.settings.workers.inbox_recovery_interval_secs);
    loop {
        tokio::select! {
            _ = token.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        match recover_inbox_once(&state).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(recovered = n, "re-processed interrupted webhook requests"),
            Err(e) => tracing::warn!(error = ?e, "inbox recovery pass failed"),
        }
    }
}

/// Creates this month's and the next three months' event partitions.
pub async fn ensure_event_partitions(state: &AppState) -> anyhow::Result<i64> {
    let mut tx = state.pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(7341002)").execute(&mut *tx).await?;
    let created = crate::events::repo::ensure_partitions(&mut tx, state.clock.now(), 4).await?;
    tx.commit().await?;
    Ok(created)
}

async fn event_partitions(state: AppState, token: CancellationToken) {
    loop {
        match ensure_event_partitions(&state).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(created = n, "created event partitions"),
            Err(e) => tracing::warn!(error = ?e, "event partition maintenance failed"),
        }
        tokio::select! {
            _ = token.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
        }
    }
}
