//! Webhook workers: claim due dispatches (leased, bounded per endpoint),
//! sign and POST them, record each answer and schedule retries.
//!
//! Delivery is at least once: a process that dies after the receiver got a
//! request but before recording the answer leaves a lease that runs out,
//! and the message is sent again with the same `webhook-id`.

use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use futures_util::StreamExt;
use tokio::sync::Notify;

use super::catalogue::EndpointDisabled;
use super::guard;
use super::model::MessageId;
use super::outbox::{self, Outgoing};
use super::queue::{self, Claimed, Next, Outcome};
use super::sign;
use crate::config::WebhookSettings;
use crate::state::AppState;

/// Longest part of an answer kept in the attempt log.
pub const RESPONSE_CAP: usize = 1024;

/// The `user-agent` of every request.
pub const USER_AGENT: &str = concat!("Shequn-Webhooks/", env!("CARGO_PKG_VERSION"), " (+https://standardwebhooks.com)");

/// The HTTP client of outbound webhooks: no redirects, the SSRF guard in
/// its resolver, the configured timeout.
pub fn http_client(s: &WebhookSettings) -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(StdDuration::from_secs(s.request_timeout_secs))
        .connect_timeout(StdDuration::from_secs(5.min(s.request_timeout_secs)))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(USER_AGENT)
        .dns_resolver(Arc::new(guard::GuardedResolver { allow_private: s.allow_private_destinations }))
        .pool_max_idle_per_host(s.max_in_flight_per_endpoint as usize)
        .build()
        .context("building the webhook HTTP client")
}

/// The wait before the next attempt after `made` attempts of this round
/// (None: that was the last), with ±10% jitter; a longer `retry_after` wins
/// (up to a day).
pub fn retry_delay(s: &WebhookSettings, made: i32, retry_after: Option<StdDuration>) -> Option<Duration> {
    let base = *s.retry_schedule_secs.get(usize::try_from(made - 1).ok()?)?;
    let mut r = [0u8; 8];
    let unit = match getrandom::fill(&mut r) {
        Ok(()) => (u64::from_le_bytes(r) % 2001) as f64 / 1000.0 - 1.0,
        Err(_) => 0.0,
    };
    let jittered = (base as f64 * (1.0 + 0.1 * unit)).round() as i64;
    let honoured = retry_after.map(|d| d.as_secs().min(86_400) as i64).unwrap_or(0);
    Some(Duration::seconds(jittered.max(honoured)))
}

/// Parses `Retry-After`: seconds, or an HTTP date.
fn retry_after(h: &reqwest::header::HeaderMap, now: DateTime<Utc>) -> Option<StdDuration> {
    let v = h.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(StdDuration::from_secs(secs));
    }
    let at = DateTime::parse_from_rfc2822(v).ok()?.with_timezone(&Utc);
    (at - now).to_std().ok()
}

/// The request body: `{"type", "timestamp", "data"}`, personal fields
/// merged into `data` for endpoints that include them.
pub fn body(c: &Claimed) -> Vec<u8> {
    let mut data = c.data.0.clone();
    if c.include_pii {
        if let (Some(d), Some(p)) = (data.as_object_mut(), c.pii.as_ref().and_then(|p| p.0.as_object())) {
            for (k, v) in p {
                d.insert(k.clone(), v.clone());
            }
        }
    }
    let payload = serde_json::json!({"type": c.kind, "timestamp": c.occurred_at, "data": data});
    // A Value always serialises.
    serde_json::to_vec(&payload).unwrap_or_default()
}

/// Reads at most [`RESPONSE_CAP`] bytes of an answer, as text without the
/// secrets (redacted before the cut, so no part of one is kept).
async fn snippet(mut r: reqwest::Response, secrets: &[&str]) -> Option<String> {
    let longest = secrets.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut buf = Vec::new();
    while buf.len() < RESPONSE_CAP + longest {
        match r.chunk().await {
            Ok(Some(c)) => buf.extend_from_slice(&c),
            _ => break,
        }
    }
    let mut text = String::from_utf8_lossy(&buf).into_owned();
    for s in secrets {
        text = text.replace(s, "[redacted]");
    }
    if text.len() > RESPONSE_CAP {
        let mut cut = RESPONSE_CAP;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    Some(text).filter(|t| !t.is_empty())
}

fn error_text(e: &reqwest::Error) -> String {
    if guard::is_guard_error(e) {
        return "refused by the SSRF guard: the destination resolves to a private address".into();
    }
    if e.is_timeout() {
        return "timed out".into();
    }
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg = format!("{msg}: {s}");
        src = s.source();
    }
    msg.chars().take(500).collect()
}

/// Sends one claimed dispatch and says what follows.
pub async fn send_one(state: &AppState, http: &reqwest::Client, c: &Claimed) -> Outcome {
    let s = &state.settings.webhooks;
    let started = state.clock.now();
    let t0 = Instant::now();
    let id = MessageId(c.message_id).to_string();
    let body = body(c);
    let mut secrets = vec![c.secret.as_str()];
    secrets.extend(c.previous_secret.as_deref());
    let signature = sign::header(&secrets, &id, started.timestamp(), &body);
    let mut o = Outcome {
        workspace_id: c.workspace_id,
        message_id: c.message_id,
        endpoint_id: c.endpoint_id,
        number: c.attempts,
        started_at: started,
        finished_at: started,
        latency_ms: 0,
        status_code: None,
        response: None,
        error: None,
        next: Next::Failed,
    };
    // IP literals never pass through the resolver: the guard looks at them here.
    let literal_refused = !s.allow_private_destinations
        && guard::parse(&c.url).ok().and_then(|u| guard::literal(&u)).is_some_and(guard::forbidden);
    let mut wait: Option<StdDuration> = None;
    let mut retryable = false;
    if literal_refused {
        o.error = Some("refused by the SSRF guard: a private address".into());
    } else {
        let req = http
            .post(&c.url)
            .header("content-type", "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", started.timestamp().to_string())
            .header("webhook-signature", signature)
            .body(body);
        match req.send().await {
            Ok(r) => {
                let status = r.status();
                o.status_code = Some(i32::from(status.as_u16()));
                wait = retry_after(r.headers(), started);
                o.response = snippet(r, &secrets).await;
                if status.is_success() {
                    o.next = Next::Delivered;
                } else {
                    retryable = status.is_server_error() || matches!(status.as_u16(), 408 | 429);
                    o.error = Some(format!("HTTP {}", status.as_u16()));
                }
            }
            Err(e) => {
                retryable = !guard::is_guard_error(&e);
                o.error = Some(error_text(&e));
            }
        }
    }
    o.latency_ms = t0.elapsed().as_millis().min(i64::MAX as u128) as i64;
    o.finished_at = state.clock.now();
    if retryable {
        o.next = match retry_delay(s, c.attempts - c.schedule_base, wait) {
            Some(d) => Next::Retry(o.finished_at + d),
            None => Next::Failed,
        };
    }
    o
}

/// One round's transaction: records `done` (announcing endpoints that got
/// disabled) and, with room, claims that many due dispatches.
async fn round(state: &AppState, done: &[Outcome], room: Option<usize>, recover: bool) -> anyhow::Result<Vec<Claimed>> {
    let s = &state.settings.webhooks;
    let now = state.clock.now();
    let mut tx = crate::db::begin(&state.pool).await?;
    // This transaction only keeps the books of sending: lost in a crash, its
    // claims are simply absent (the dispatches are still pending) and its
    // answers unrecorded (the leases run out and the messages go again,
    // which at-least-once delivery allows). It need not wait for the WAL
    // flush; the messages were committed durably by the changes that made them.
    sqlx::query("SET LOCAL synchronous_commit = off").execute(&mut *tx).await?;
    if !done.is_empty() {
        let before = now - Duration::seconds(s.disable_after_secs as i64);
        for d in queue::record(&mut tx, done, before, now).await? {
            tracing::warn!(endpoint = %d.id, "webhook endpoint disabled after failing since {:?}", d.failing_since);
            let p = EndpointDisabled {
                endpoint_id: d.id.0,
                url: d.url,
                reason: "every attempt failed for the configured period".into(),
                failing_since: d.failing_since,
                disabled_at: now,
            };
            outbox::emit(&mut tx, d.workspace_id, now, &[Outgoing::new(now, &p)?]).await?;
        }
    }
    let mut claimed = Vec::new();
    if recover {
        queue::recover_expired(&mut tx, now).await?;
    }
    if let Some(room) = room {
        let lease = now + Duration::seconds(s.lease_secs as i64);
        claimed = queue::claim(&mut tx, now, lease, s.max_in_flight_per_endpoint, room as i64).await?;
    }
    tx.commit().await?;
    Ok(claimed)
}

/// How long answers are gathered after the first before they are recorded.
const GATHER: StdDuration = StdDuration::from_millis(5);

/// Sends due messages until none is due and none is in flight; returns how
/// many were claimed. Up to `webhooks.concurrency` requests are in flight
/// (at most `max_in_flight_per_endpoint` per endpoint): a slow receiver
/// holds its own places, not the others'. Answers are recorded in the
/// transaction that claims the next ones. `wakeup` (new messages) cuts the
/// wait after a short claim; once `stop()`, nothing more is claimed.
pub async fn pump(
    state: &AppState,
    http: &reqwest::Client,
    wakeup: &Notify,
    stop: &(dyn Fn() -> bool + Sync),
) -> anyhow::Result<usize> {
    let s = &state.settings.webhooks;
    let window = s.concurrency.max(1);
    let tick = StdDuration::from_millis(s.tick_millis);
    let mut inflight = futures_util::stream::FuturesUnordered::new();
    let mut total = 0;
    let mut done: Vec<Outcome> = Vec::new();
    let mut short_at: Option<tokio::time::Instant> = None;
    // Expired leases are looked for at the first claim and then once a tick.
    let mut recovered_at: Option<tokio::time::Instant> = None;
    loop {
        let room = window - inflight.len();
        // Answers free places (an endpoint at its bound may have more due):
        // a round that records them claims too.
        let recorded = !done.is_empty();
        let claim = !stop() && room > 0 && (recorded || short_at.is_none_or(|t| t.elapsed() >= tick));
        if claim || recorded {
            let recover = claim && recovered_at.is_none_or(|t| t.elapsed() >= tick);
            if recover {
                recovered_at = Some(tokio::time::Instant::now());
            }
            let claimed = round(state, &done, claim.then_some(room), recover).await?;
            done.clear();
            if claim {
                total += claimed.len();
                short_at = (claimed.len() < room).then(tokio::time::Instant::now);
                for c in claimed {
                    inflight.push(async move { send_one(state, http, &c).await });
                }
            }
        }
        if inflight.is_empty() {
            if stop() || short_at.is_some() {
                return Ok(total);
            }
            continue;
        }
        let first = match short_at {
            Some(at) if !stop() => tokio::select! {
                o = inflight.next() => o,
                _ = tokio::time::sleep_until(at + tick) => None,
                _ = wakeup.notified() => {
                    short_at = None;
                    None
                }
            },
            _ => inflight.next().await,
        };
        let Some(first) = first else { continue };
        done.push(first);
        let until = tokio::time::Instant::now() + GATHER;
        while !inflight.is_empty() {
            tokio::select! {
                o = inflight.next() => match o {
                    Some(o) => done.push(o),
                    None => break,
                },
                _ = tokio::time::sleep_until(until) => break,
            }
        }
    }
}

/// Forwards the outbox's `NOTIFY`s to `wakeup` until cancelled
/// (reconnecting after errors; the workers also poll every tick).
pub async fn listen(pool: sqlx::PgPool, wakeup: Arc<Notify>, token: tokio_util::sync::CancellationToken) {
    loop {
        let run = async {
            let mut l = sqlx::postgres::PgListener::connect_with(&pool).await?;
            l.listen(outbox::CHANNEL).await?;
            loop {
                l.recv().await?;
                wakeup.notify_one();
            }
            #[allow(unreachable_code)]
            Ok::<(), sqlx::Error>(())
        };
        tokio::select! {
            _ = token.cancelled() => return,
            r = run => if let Err(e) = r {
                tracing::debug!(error = %e, "webhook listener lost its connection; reconnecting");
            },
        }
        tokio::select! {
            _ = token.cancelled() => return,
            _ = tokio::time::sleep(StdDuration::from_secs(1)) => {}
        }
    }
}

/// The shortest sleep between passes.
const MIN_WAIT: StdDuration = StdDuration::from_millis(20);

/// The worker loop: pump, then sleep until the next retry is due, a tick,
/// or a wake-up.
pub async fn run(state: AppState, http: reqwest::Client, token: tokio_util::sync::CancellationToken) {
    let wakeup = Arc::new(Notify::new());
    tokio::spawn(listen(state.pool.clone(), wakeup.clone(), token.clone()));
    let tick = StdDuration::from_millis(state.settings.webhooks.tick_millis);
    loop {
        if let Err(e) = pump(&state, &http, &wakeup, &|| token.is_cancelled()).await {
            tracing::warn!(error = %format!("{e:#}"), "webhook worker pass failed; will retry");
        }
        if token.is_cancelled() {
            return;
        }
        let now = state.clock.now();
        let wait = match state.pool.acquire().await {
            Ok(mut c) => match queue::next_due(&mut c).await {
                // Not below a floor: what is due but not claimable (an endpoint
                // at its bound, or locked by another instance) is not spun on.
                Ok(Some(next)) => (next - now).to_std().unwrap_or_default().clamp(MIN_WAIT, tick),
                _ => tick,
            },
            Err(_) => tick,
        };
        tokio::select! {
            _ = token.cancelled() => return,
            _ = wakeup.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn settings() -> WebhookSettings {
        crate::config::Settings::load_from(std::path::Path::new("/nonexistent"), &[]).unwrap().webhooks
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = Utc.with_ymd_and_hms(2026, 11, 20, 2, 0, 0).unwrap();
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("retry-after", "120".parse().unwrap());
        assert_eq!(retry_after(&h, now), Some(StdDuration::from_secs(120)));
        h.insert("retry-after", "Fri, 20 Nov 2026 02:10:00 GMT".parse().unwrap());
        assert_eq!(retry_after(&h, now), Some(StdDuration::from_secs(600)));
        h.insert("retry-after", "Fri, 20 Nov 2026 01:00:00 GMT".parse().unwrap());
        assert_eq!(retry_after(&h, now), None, "a date in the past");
        h.insert("retry-after", "soon".parse().unwrap());
        assert_eq!(retry_after(&h, now), None);
    }

    #[test]
    fn the_schedule_has_jittered_waits_then_ends_and_a_longer_retry_after_wins() {
        let s = settings();
        for (made, base) in [(1, 5), (2, 300), (3, 1800), (4, 7200), (5, 18000), (6, 36000), (7, 36000)] {
            for _ in 0..20 {
                let d = retry_delay(&s, made, None).unwrap().num_seconds();
                assert!((base * 9 / 10..=base * 11 / 10 + 1).contains(&d), "attempt {made}: {d} s");
            }
        }
        assert_eq!(retry_delay(&s, 8, None), None, "eight attempts in all");
        assert_eq!(retry_delay(&s, 1, Some(StdDuration::from_secs(900))).unwrap().num_seconds(), 900);
        assert_eq!(retry_delay(&s, 1, Some(StdDuration::from_secs(10 * 86_400))).unwrap().num_seconds(), 86_400);
    }
}
