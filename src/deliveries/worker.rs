//! Delivery workers: claim due deliveries (leased, `FOR UPDATE SKIP
//! LOCKED`), call the platforms concurrently, record every answer.
//!
//! Crash windows: a claimed delivery is `sending` with a lease. If the
//! process dies before recording the answer, the lease expires and the
//! delivery becomes `pending` again where the receiver dedupes on our
//! idempotency key (generic webhooks), else `uncertain` — never guessed.
//! Only as many deliveries are claimed as are sent at once, so the
//! uncertain window is one platform call long.

use std::collections::HashMap;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use futures_util::StreamExt;
use serde_json::Value;
use uuid::Uuid;

use super::connectors::{self, SendRequest, Sent};
use super::model::{Attempt, Channel, DeliveryState};
use super::repo::{self, Claimed, Outcome};
use crate::config::DeliverySettings;
use crate::ids::WorkspaceId;
use crate::state::AppState;

/// Backoff before attempt `n + 1` after `n` failed ones: base·2^(n-1), capped, plus up to half of it as jitter.
pub fn backoff(s: &DeliverySettings, failed: i32, retry_after: Option<StdDuration>) -> Duration {
    let exp = (failed.max(1) - 1).min(20) as u32;
    let base = s.backoff_base_secs.saturating_mul(1u64 << exp).min(s.backoff_max_secs);
    let mut r = [0u8; 8];
    let jitter = match getrandom::fill(&mut r) {
        Ok(()) => u64::from_le_bytes(r) % (base / 2 + 1),
        Err(_) => 0,
    };
    let wait = (base + jitter).max(retry_after.map(|d| d.as_secs()).unwrap_or(0));
    Duration::seconds(wait.min(i64::MAX as u64) as i64)
}

/// Credentials and settings of the connections and robots a batch needs.
async fn secrets(
    state: &AppState,
    claimed: &[Claimed],
) -> anyhow::Result<(HashMap<Uuid, (Value, Value)>, HashMap<(WorkspaceId, Uuid), Value>)> {
    let mut conn = state.pool.acquire().await?;
    let mut connections = HashMap::new();
    let mut robots = HashMap::new();
    let mut by_ws: HashMap<WorkspaceId, (Vec<Uuid>, Vec<Uuid>)> = HashMap::new();
    for c in claimed {
        let e = by_ws.entry(c.workspace_id).or_default();
        e.0.extend(c.connection_id.map(|x| x.0));
        e.1.push(c.group_id.0);
    }
    for (ws, (conns, groups)) in by_ws {
        let rows: Vec<(Uuid, sqlx::types::Json<Value>, sqlx::types::Json<Value>)> = sqlx::query_as(
            "SELECT id, credentials, settings FROM connections WHERE workspace_id = $1 AND id = ANY($2)",
        )
        .bind(ws)
        .bind(&conns)
        .fetch_all(&mut *conn)
        .await?;
        connections.extend(rows.into_iter().map(|(id, c, s)| (id, (c.0, s.0))));
        let rows: Vec<(Uuid, sqlx::types::Json<Value>)> = sqlx::query_as(
            "SELECT group_id, credentials FROM group_robots WHERE workspace_id = $1 AND group_id = ANY($2)",
        )
        .bind(ws)
        .bind(&groups)
        .fetch_all(&mut *conn)
        .await?;
        robots.extend(rows.into_iter().map(|(g, c)| ((ws, g), c.0)));
    }
    Ok((connections, robots))
}

/// Turns a verdict into the recorded outcome.
fn outcome(s: &DeliverySettings, c: &Claimed, sent: Sent, started: DateTime<Utc>, finished: DateTime<Utc>) -> Outcome {
    let mut o = Outcome {
        workspace_id: c.workspace_id,
        id: c.id,
        attempt: c.attempts,
        state: DeliveryState::Sent,
        next_attempt_at: None,
        sent_at: None,
        lateness_ms: None,
        platform_message_id: None,
        error: None,
        next_reminder_at: None,
        log: None,
    };
    let (label, status, response, error) = match sent {
        Sent::Accepted { status, message_id, response } => {
            o.sent_at = Some(finished);
            o.lateness_ms = Some((finished - c.fire_at).num_milliseconds().max(0));
            o.platform_message_id = message_id;
            ("accepted", Some(status), response, None)
        }
        Sent::Retryable { status, retry_after, error, response } => {
            if c.attempts - c.attempts_base >= s.max_attempts {
                o.state = DeliveryState::Dead;
            } else {
                o.state = DeliveryState::Failed;
                o.next_attempt_at = Some(finished + backoff(s, c.attempts - c.attempts_base, retry_after));
            }
            o.error = Some(error.clone());
            ("retryable", status, response, Some(error))
        }
        Sent::Rejected { status, error, response } => {
            o.state = DeliveryState::Dead;
            o.error = Some(error.clone());
            ("rejected", status, response, Some(error))
        }
    };
    o.log = Some(Attempt {
        number: c.attempts,
        started_at: started,
        finished_at: finished,
        outcome: label.to_owned(),
        http_status: status.map(i32::from),
        response: Some(response).filter(|r| !r.is_empty()),
        error,
    });
    o
}

/// Sends one batch of due deliveries; returns how many were claimed.
pub async fn send_due(state: &AppState, http: &reqwest::Client) -> anyhow::Result<usize> {
    let s = &state.settings.delivery;
    let now = state.clock.now();
    let mut conn = state.pool.acquire().await?;
    repo::recover_expired(&mut conn, now).await?;
    let lease = now + Duration::seconds(s.lease_secs as i64);
    let claimed = repo::claim(&mut conn, now, lease, s.concurrency as i64).await?;
    drop(conn);
    if claimed.is_empty() {
        return Ok(0);
    }
    let (connections, robots) = secrets(state, &claimed).await?;
    let none = (Value::Null, Value::Null);
    let futures: Vec<_> = claimed
        .iter()
        .map(|c| {
            let (creds, settings) = c.connection_id.and_then(|id| connections.get(&id.0)).unwrap_or(&none);
            let robot = robots.get(&(c.workspace_id, c.group_id.0));
            send_one(state, http, c, creds, settings, robot)
        })
        .collect();
    let outcomes: Vec<Outcome> =
        futures_util::stream::iter(futures).buffer_unordered(s.concurrency.max(1)).collect().await;
    let mut conn = state.pool.acquire().await?;
    repo::record(&mut conn, &outcomes).await?;
    Ok(claimed.len())
}

async fn send_one(
    state: &AppState,
    http: &reqwest::Client,
    c: &Claimed,
    creds: &Value,
    settings: &Value,
    robot: Option<&Value>,
) -> Outcome {
    let started = state.clock.now();
    let req = SendRequest {
        delivery_id: c.id.0,
        chat_id: &c.external_id,
        group_id: c.group_id.0,
        message: &c.message.0,
        credentials: creds,
        settings,
        robot,
        now_unix: started.timestamp(),
    };
    let secret = (c.channel == Channel::Generic).then(|| creds["secret"].as_str()).flatten();
    let sent = connectors::send(http, c.channel, &req, secret).await;
    outcome(&state.settings.delivery, c, sent, started, state.clock.now())
}

/// The HTTP client of the connectors.
pub fn http_client(s: &DeliverySettings) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .timeout(StdDuration::from_secs(s.request_timeout_secs))
        .connect_timeout(StdDuration::from_secs(5))
        .pool_max_idle_per_host(s.concurrency.max(1))
        .build()?)
}
