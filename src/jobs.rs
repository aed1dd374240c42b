//! Background jobs of `serve`, each a loop watching one cancellation token:
//! the inbox processor (turns stored webhook requests into events, in
//! batches) and event-partition maintenance. Both are safe on several
//! instances: inbox rows are claimed with `FOR UPDATE SKIP LOCKED`, and
//! partition creation is idempotent under an advisory lock.

use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::state::AppState;

/// Starts the configured jobs.
pub fn spawn_all(state: &AppState, token: &CancellationToken) -> Vec<JoinHandle<()>> {
    let w = &state.settings.workers;
    let mut handles = Vec::new();
    if w.inbox_processor {
        handles.push(tokio::spawn(inbox_processor(state.clone(), token.clone())));
    }
    if w.event_partitions {
        handles.push(tokio::spawn(event_partitions(state.clone(), token.clone())));
    }
    handles
}

/// Processes stored webhook requests until none is left; returns how many.
pub async fn drain_inbox(state: &AppState) -> anyhow::Result<usize> {
    let mut total = 0;
    loop {
        let n = crate::hooks::service::process_batch(state, state.settings.workers.inbox_batch_size).await?;
        if n == 0 {
            return Ok(total);
        }
        total += n;
    }
}

async fn inbox_processor(state: AppState, token: CancellationToken) {
    let every = Duration::from_secs(state.settings.workers.inbox_interval_secs);
    loop {
        if let Err(e) = drain_inbox(&state).await {
            tracing::warn!(error = ?e, "inbox processing failed; will retry");
        }
        tokio::select! {
            _ = token.cancelled() => return,
            _ = state.inbox_wakeup.notified() => {
                // Let requests arriving together form one batch: fewer, larger
                // transactions cost less than one per request.
                tokio::time::sleep(COALESCE).await;
            }
            _ = tokio::time::sleep(every) => {}
        }
    }
}

/// How long the processor waits after a wake-up for more requests to batch.
const COALESCE: Duration = Duration::from_millis(50);

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
