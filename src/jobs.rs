//! Background jobs of `serve`, each a loop watching one cancellation token:
//! the inbox processor (turns stored webhook requests into events, in
//! batches), event-partition maintenance, the metric rollups, the health
//! watch, the campaign jobs (points expiry, tier rules), the SOP scheduler,
//! the delivery workers and the webhook workers.
//! All are safe on several instances: inbox rows and webhook dispatches are
//! claimed with `FOR UPDATE SKIP LOCKED`, partition creation and rollups run
//! under advisory locks, a health-watch day is claimed by a guarded insert.

use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::app::App;

/// Starts the configured jobs.
pub fn spawn_all(state: &App, token: &CancellationToken) -> Vec<JoinHandle<()>> {
    let w = &state.settings.workers;
    let mut handles = Vec::new();
    if w.inbox_processor {
        handles.push(tokio::spawn(inbox_processor(state.clone(), token.clone())));
    }
    if w.event_partitions {
        handles.push(tokio::spawn(event_partitions(state.clone(), token.clone())));
    }
    if w.metric_rollups {
        handles.push(tokio::spawn(metric_rollups(state.clone(), token.clone())));
    }
    if w.health_watch {
        handles.push(tokio::spawn(health_watch(state.clone(), token.clone())));
    }
    if w.campaign_jobs {
        handles.push(tokio::spawn(campaign_jobs(state.clone(), token.clone())));
    }
    let d = &state.settings.delivery;
    if d.scheduler {
        handles.push(tokio::spawn(sop_scheduler(state.clone(), token.clone())));
    }
    if d.workers {
        match crate::deliveries::worker::http_client(d) {
            Ok(http) => handles.push(tokio::spawn(delivery_worker(state.clone(), http, token.clone()))),
            Err(e) => tracing::error!(error = %e, "delivery workers not started: no HTTP client"),
        }
    }
    let wh = &state.settings.webhooks;
    if wh.workers {
        match crate::webhooks::worker::http_client(wh) {
            Ok(http) => {
                handles.push(tokio::spawn(crate::webhooks::worker::run(state.state.clone(), http, token.clone())))
            }
            Err(e) => tracing::error!(error = %format!("{e:#}"), "webhook workers not started: no HTTP client"),
        }
    }
    handles
}

/// Judges group health where a day has not been judged yet; returns how
/// many changes were announced.
pub async fn run_health_watch_once(state: &App) -> anyhow::Result<usize> {
    crate::metrics::watch::run_once(&state.pool, state.clock.now()).await
}

async fn health_watch(state: App, token: CancellationToken) {
    let every = Duration::from_secs(state.settings.workers.health_watch_interval_secs);
    loop {
        if let Err(e) = run_health_watch_once(&state).await {
            tracing::warn!(error = %format!("{e:#}"), "health watch pass failed; will retry");
        }
        tokio::select! {
            _ = token.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

/// One pass of the campaign engines' timed work: points lots due expire,
/// workspaces whose local day has not been evaluated get their tier rules
/// applied, unused coupons past their validity are written `expired`,
/// unpaid flash-sale reservations past their minutes give their units back,
/// coupon issues left queued (their instance stopped) are worked through.
/// Returns (lots expired, tier changes).
pub async fn run_campaign_jobs_once(state: &App) -> anyhow::Result<(usize, i64)> {
    let now = state.clock.now();
    let expired = crate::points::expiry::run_once(&state.pool, now).await?;
    let changed = crate::tier_rules::service::run_nightly(&state.pool, now).await?;
    crate::coupons::service::expire_due(&state.pool, now).await?;
    crate::flash_sales::service::expire_due(&state.pool, now).await?;
    crate::coupons::issues::run_pending(&state.pool, now, &state.ingestion.reactions).await?;
    let (http, tokens) = (&state.channel_visits.http, &state.senders.tokens);
    crate::channels::states::run_due(&state.pool, http, tokens, now, &state.ingestion.reactions).await?;
    crate::referrals::service::run_due(&state.pool, now, &state.ingestion.reactions).await?;
    crate::lotteries::service::run_due(&state.pool, now, &state.ingestion.reactions).await?;
    crate::group_buys::service::fail_due(&state.pool, now).await?;
    crate::bargains::service::expire_due(&state.pool, now).await?;
    Ok((expired, changed))
}

async fn campaign_jobs(state: App, token: CancellationToken) {
    let every = Duration::from_secs(state.settings.workers.campaign_jobs_interval_secs);
    loop {
        if let Err(e) = run_campaign_jobs_once(&state).await {
            tracing::warn!(error = %format!("{e:#}"), "campaign jobs pass failed; will retry");
        }
        tokio::select! {
            _ = token.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

/// Sends due webhook messages until none is due and none is in flight;
/// returns how many were claimed.
pub async fn drain_webhooks(state: &App, http: &reqwest::Client) -> anyhow::Result<usize> {
    crate::webhooks::worker::pump(&state.state, http, &tokio::sync::Notify::new(), &|| false).await
}

/// One scheduler pass: re-sync stale plans, then claim every due slot.
pub async fn run_scheduler_once(state: &App) -> anyhow::Result<usize> {
    let d = &state.settings.delivery;
    let now = state.clock.now();
    let every = chrono::Duration::seconds(d.sync_interval_secs as i64);
    while crate::sop::scheduler::sync_stale(&state.pool, now, every, 20).await? == 20 {}
    let grace = chrono::Duration::seconds(d.misfire_grace_secs as i64);
    let mut total = 0;
    loop {
        // A claimed row whose next slot is also past comes back in the next pass.
        let n = crate::sop::scheduler::run_due(&state.pool, &state.live, now, grace, d.batch_size).await?;
        total += n;
        if n == 0 {
            return Ok(total);
        }
    }
}

/// Sends due deliveries until none is due and none is in flight; returns how
/// many were claimed.
pub async fn drain_deliveries(state: &App, http: &reqwest::Client) -> anyhow::Result<usize> {
    crate::deliveries::worker::pump(&state.sending(), http, &|| false).await
}

async fn sop_scheduler(state: App, token: CancellationToken) {
    let tick = Duration::from_millis(state.settings.delivery.tick_millis);
    loop {
        match run_scheduler_once(&state).await {
            Ok(0) => {}
            Ok(_) => state.senders.wakeup.notify_one(),
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "SOP scheduler pass failed; will retry"),
        }
        // Sleep until the next slot is due, at most one tick.
        let now = state.clock.now();
        let wait = match crate::sop::scheduler::next_due(&state.pool, now).await {
            Ok(Some(next)) => (next - now).to_std().unwrap_or_default().min(tick),
            _ => tick,
        };
        tokio::select! {
            _ = token.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// Listens for new deliveries announced by any instance (None: polling only).
async fn delivery_listener(state: &App) -> Option<sqlx::postgres::PgListener> {
    let mut l = match sqlx::postgres::PgListener::connect_with(&state.pool).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %e, "no LISTEN connection for delivery wake-ups; polling");
            return None;
        }
    };
    if let Err(e) = l.listen(crate::deliveries::repo::DELIVERIES_CHANNEL).await {
        tracing::warn!(error = %e, "LISTEN for delivery wake-ups failed; polling");
        return None;
    }
    Some(l)
}

async fn delivery_worker(state: App, http: reqwest::Client, token: CancellationToken) {
    let every = Duration::from_millis(state.settings.delivery.tick_millis);
    let mut listener = delivery_listener(&state).await;
    loop {
        let stop = || token.is_cancelled();
        if let Err(e) = crate::deliveries::worker::pump(&state.sending(), &http, &stop).await {
            tracing::warn!(error = %format!("{e:#}"), "delivery pass failed; will retry");
        }
        if token.is_cancelled() {
            return;
        }
        if let Err(e) = crate::deliveries::worker::send_reminders(&state.sending(), &http).await {
            tracing::warn!(error = %format!("{e:#}"), "confirmation reminders failed; will retry");
        }
        let notified = async {
            match listener.as_mut() {
                Some(l) => l.recv().await.is_ok(),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = token.cancelled() => return,
            _ = state.senders.wakeup.notified() => {}
            ok = notified => if !ok {
                // The listener broke: poll until it is back.
                listener = delivery_listener(&state).await;
            },
            _ = tokio::time::sleep(every) => {}
        }
    }
}

/// Processes stored webhook requests until none is left; returns how many.
pub async fn drain_inbox(state: &App) -> anyhow::Result<usize> {
    let mut total = 0;
    loop {
        let n =
            crate::hooks::service::process_batch(&state.webhooks(), state.settings.workers.inbox_batch_size).await?;
        if n == 0 {
            return Ok(total);
        }
        total += n;
    }
}

async fn inbox_processor(state: App, token: CancellationToken) {
    let every = Duration::from_secs(state.settings.workers.inbox_interval_secs);
    loop {
        if let Err(e) = drain_inbox(&state).await {
            tracing::warn!(error = ?e, "inbox processing failed; will retry");
        }
        tokio::select! {
            _ = token.cancelled() => return,
            _ = state.inbox.wakeup.notified() => {
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
pub async fn ensure_event_partitions(state: &App) -> anyhow::Result<i64> {
    let mut tx = crate::db::begin(&state.pool).await?;
    let created = crate::events::repo::ensure_partitions(&mut tx, state.clock.now(), 4).await?;
    tx.commit().await?;
    Ok(created)
}

async fn event_partitions(state: App, token: CancellationToken) {
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

/// The longest a busy rollup worker waits between the starts of two passes.
const BUSY_PERIOD: Duration = Duration::from_millis(2500);

/// From the start of one rollup pass to the next, after one that took `took`.
fn gap(period: Duration, took: Duration) -> Duration {
    period.max((took * 3).min(BUSY_PERIOD))
}

/// Merges newly stored events into the metric rollups, a pass starting every
/// `rollup_interval_millis` — or, after a pass that took a third of that or
/// more, three times as long as it took, up to [`BUSY_PERIOD`] — and at once
/// after one that left a backlog.
///
/// A pass costs in proportion to the events it merges and the members, groups
/// and days they touch (`metrics::store::incremental`), not to what their days
/// already hold. Under a fast stream most of that cost is per member (each
/// busy member's counters and timeline chunk are written once a pass, however
/// many events it brings), so passes a little further apart merge more events
/// for the same work: the worker then takes about a third of one database
/// connection's time and today's figures trail the events by one period plus
/// one pass — under 5 s at the fastest rate measured (BENCHMARKS.md,
/// "Sustained ingest").
async fn metric_rollups(state: App, token: CancellationToken) {
    use crate::metrics::store::rollup;
    let period = Duration::from_millis(state.settings.workers.rollup_interval_millis);
    loop {
        let started = std::time::Instant::now();
        let mut backlog = false;
        match rollup::run_once(&state.pool).await {
            Ok(pass) if pass.ran && pass.queued > 0 => {
                backlog = pass.more;
                tracing::debug!(
                    rows = pass.queued,
                    events = pass.merged,
                    days = pass.days(),
                    ms = started.elapsed().as_millis() as u64,
                    "metric rollup pass"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "metric rollup pass failed; will retry"),
        }
        let took = started.elapsed();
        let wait = if backlog { Duration::ZERO } else { gap(period, took).saturating_sub(took) };
        tokio::select! {
            _ = token.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_rollup_worker_waits_three_times_its_pass_up_to_the_busy_period() {
        let ms = Duration::from_millis;
        assert_eq!(gap(ms(1000), ms(100)), ms(1000));
        assert_eq!(gap(ms(1000), ms(500)), ms(1500));
        assert_eq!(gap(ms(1000), ms(2000)), BUSY_PERIOD);
        // A configured period longer than the busy one is kept.
        assert_eq!(gap(ms(5000), ms(2000)), ms(5000));
    }
}
