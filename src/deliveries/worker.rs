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
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use futures_util::StreamExt;
use serde_json::Value;
use uuid::Uuid;

use super::model::{Attempt, DeliveryState};
use super::repo::{self, Claimed, Outcome};
use crate::config::DeliverySettings;
use crate::ids::{GroupId, WorkspaceId};
use crate::platforms::outbound::{Calls, SendRequest, Sent};
use crate::platforms::{self, FollowUp};
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

/// What a claim needs besides the claimed rows.
#[derive(Default)]
struct Secrets {
    /// Connection id -> (credentials, settings), shared by its sends.
    connections: HashMap<Uuid, Arc<(Value, Value)>>,
    /// (workspace, group) -> robot credentials.
    robots: HashMap<(WorkspaceId, Uuid), Value>,
    /// (workspace, group) -> the owner staff's account on the channel's platform.
    senders: HashMap<(WorkspaceId, Uuid), String>,
}

/// What sending needs: the shared state (its fields read through this),
/// this process's senders and its connection cache.
#[derive(Clone, Copy)]
pub struct Sending<'a> {
    pub state: &'a AppState,
    pub senders: &'a super::Senders,
    pub connections: &'a crate::connections::cache::ConnectionCache,
}

impl std::ops::Deref for Sending<'_> {
    type Target = AppState;

    fn deref(&self) -> &AppState {
        self.state
    }
}

async fn secrets(state: &Sending<'_>, claimed: &[Claimed]) -> anyhow::Result<Secrets> {
    let mut out = Secrets::default();
    // Per workspace: groups whose robot sends; groups sent to as their owner, by platform.
    type Wanted = (Vec<GroupId>, HashMap<crate::platform::Platform, Vec<GroupId>>);
    let mut by_ws: HashMap<WorkspaceId, Wanted> = HashMap::new();
    for c in claimed {
        if let Some(id) = c.connection_id {
            if let std::collections::hash_map::Entry::Vacant(slot) = out.connections.entry(id.0) {
                // The short-lived connection cache (as on the webhook path);
                // a record of another workspace is never used.
                if let Some(r) = state.connections.get(&state.pool, id.0).await? {
                    if r.workspace_id == c.workspace_id {
                        slot.insert(Arc::new((r.credentials.0.clone(), r.settings.0.clone())));
                    }
                }
            }
        }
        let e = by_ws.entry(c.workspace_id).or_default();
        if c.channel.uses_group_robot() {
            e.0.push(c.group_id);
        } else if let Some(p) = c.channel.sends_as_owner_on() {
            e.1.entry(p).or_default().push(c.group_id);
        }
    }
    by_ws.retain(|_, (robots, mass)| !robots.is_empty() || !mass.is_empty());
    if by_ws.is_empty() {
        return Ok(out);
    }
    let mut conn = state.pool.acquire().await?;
    for (ws, (robot_groups, owner_groups)) in by_ws {
        if !robot_groups.is_empty() {
            let rows = super::repo::robot_credentials(&mut conn, ws, &robot_groups).await?;
            out.robots.extend(rows.into_iter().map(|(g, c)| ((ws, g), c.0)));
        }
        for (platform, groups) in owner_groups {
            let rows = crate::staff::repo::owner_accounts(&mut conn, ws, &groups, platform).await?;
            out.senders.extend(rows.into_iter().map(|(g, u)| ((ws, g), u)));
        }
    }
    Ok(out)
}

/// Turns a verdict into the recorded outcome.
fn outcome(s: &DeliverySettings, c: &Claimed, sent: Sent, started: DateTime<Utc>, finished: DateTime<Utc>) -> Outcome {
    let mut o = Outcome::of(c, DeliveryState::Sent);
    let (label, status, response, error) = match sent {
        Sent::Accepted { status, message_id, response } => {
            if c.channel.awaits_confirmation() {
                o.state = DeliveryState::AwaitingConfirmation;
                o.next_reminder_at = Some(finished + Duration::seconds(s.reminder_interval_secs as i64));
            }
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

/// Sends due deliveries until none is due and none is in flight; returns how
/// many were claimed.
///
/// Keeps up to `delivery.concurrency` platform calls in flight: whenever
/// places are free the window is topped up with a claim of that many, so a
/// slow or hanging call (up to `request_timeout_secs`) holds one place, not a
/// whole batch, and the other groups' messages keep going out. Answers are
/// gathered as they come in (all of them when they come quickly, else those
/// arriving within 20 ms of the first) and recorded, with their attempts, in
/// the transaction that claims the next ones: one commit per round. When a
/// claim finds fewer due than it had room for, the next one waits for a tick
/// or a wake-up while calls are still in flight. Once `stop()`, nothing more
/// is claimed; calls in flight finish and are recorded.
pub async fn pump(
    state: &Sending<'_>,
    http: &reqwest::Client,
    stop: &(dyn Fn() -> bool + Sync),
) -> anyhow::Result<usize> {
    let s = &state.settings.delivery;
    let window = s.concurrency.max(1);
    let tick = StdDuration::from_millis(s.tick_millis);
    let mut inflight = futures_util::stream::FuturesUnordered::new();
    let mut total = 0;
    // Answers (and throttled claims given back) not yet recorded.
    let mut done: Vec<Outcome> = Vec::new();
    // Set when the last claim came back short: claim again after a tick.
    let mut short_at: Option<tokio::time::Instant> = None;
    // Connections whose rate limit (over all their groups) is used up, until
    // it frees: not claimed from meanwhile, so a backlog behind a busy bot is
    // not claimed and given back round after round.
    let mut held: HashMap<Uuid, DateTime<Utc>> = HashMap::new();
    loop {
        let room = window - inflight.len();
        let claim = !stop() && room > 0 && short_at.is_none_or(|t| t.elapsed() >= tick);
        if claim || !done.is_empty() {
            let now = state.clock.now();
            let claimed = round(state, &done, claim.then_some(room), &mut held, now).await?;
            done.clear();
            if claim {
                total += claimed.len();
                short_at = (claimed.len() < room).then(tokio::time::Instant::now);
                let sec = secrets(state, &claimed).await?;
                let (claimed, given_back) = throttle(state, claimed, now, &mut held);
                done = given_back;
                for c in claimed {
                    let conn = c.connection_id.and_then(|id| sec.connections.get(&id.0)).cloned();
                    let robot = sec.robots.get(&(c.workspace_id, c.group_id.0)).cloned();
                    let sender = sec.senders.get(&(c.workspace_id, c.group_id.0)).cloned();
                    inflight.push(async move {
                        let (creds, settings) = conn.as_deref().unwrap_or(&NO_CONNECTION);
                        send_one(state, http, &c, (creds, settings), robot.as_ref(), sender.as_deref()).await
                    });
                }
            }
        }
        if inflight.is_empty() {
            if done.is_empty() && (stop() || short_at.is_some()) {
                return Ok(total);
            }
            // Give-backs to record, or a full claim that was all given back
            // (rate limits): go round again.
            continue;
        }
        // The next answer; or, after a short claim, the moment to claim again.
        let first = match short_at {
            Some(at) if !stop() => tokio::select! {
                o = inflight.next() => o,
                _ = tokio::time::sleep_until(at + tick) => None,
                _ = state.senders.wakeup.notified() => {
                    short_at = None;
                    None
                }
            },
            _ => inflight.next().await,
        };
        let Some(first) = first else { continue };
        // Gather answers for a moment (all of them when they come quickly),
        // so that rounds stay batches rather than one transaction per answer,
        // while a slow call holds only its own place.
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

/// How long answers are gathered after the first before they are recorded.
const GATHER: StdDuration = StdDuration::from_millis(20);

/// Credentials and settings of a delivery without a usable connection.
static NO_CONNECTION: (Value, Value) = (Value::Null, Value::Null);

/// A round's transaction: records `done` (states and the attempt log) and,
/// with room, claims that many due deliveries, skipping the `held`
/// connections that are still over their limit.
async fn round(
    state: &Sending<'_>,
    done: &[Outcome],
    room: Option<usize>,
    held: &mut HashMap<Uuid, DateTime<Utc>>,
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<Claimed>> {
    let mut tx = crate::db::begin(&state.pool).await?;
    if !done.is_empty() {
        let recorded = repo::record(&mut tx, done).await?;
        super::outbound::announce(&mut tx, &recorded, now).await?;
    }
    let mut claimed = Vec::new();
    if let Some(room) = room {
        repo::recover_expired(&mut tx, now).await?;
        held.retain(|_, free| *free > now);
        let skip: Vec<Uuid> = held.keys().copied().collect();
        let lease = now + Duration::seconds(state.settings.delivery.lease_secs as i64);
        claimed = repo::claim(&mut tx, now, lease, room as i64, &skip).await?;
    }
    tx.commit().await?;
    Ok(claimed)
}

/// Splits a claim into what may be sent now and, for the rest, outcomes that
/// give the delivery back (no attempt counted) until the limit frees. A
/// connection whose own window is full goes into `held` until it frees.
fn throttle(
    state: &Sending<'_>,
    claimed: Vec<Claimed>,
    now: DateTime<Utc>,
    held: &mut HashMap<Uuid, DateTime<Utc>>,
) -> (Vec<Claimed>, Vec<Outcome>) {
    if !state.settings.delivery.rate_limits {
        return (claimed, vec![]);
    }
    let mut send = Vec::with_capacity(claimed.len());
    let mut back = Vec::new();
    for c in claimed {
        match state.senders.limiter.acquire(c.channel, c.connection_id.map(|x| x.0), c.group_id.0, now) {
            Ok(()) => send.push(c),
            Err(t) => {
                if let Some(conn) = t.connection {
                    held.insert(conn, t.free);
                }
                back.push(Outcome { next_attempt_at: Some(t.free), ..Outcome::of(&c, DeliveryState::Pending) })
            }
        }
    }
    (send, back)
}

async fn send_one(
    state: &Sending<'_>,
    http: &reqwest::Client,
    c: &Claimed,
    (creds, settings): (&Value, &Value),
    robot: Option<&Value>,
    sender: Option<&str>,
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
        sender,
    };
    let calls = Calls { http, tokens: &state.senders.tokens };
    let sent = platforms::send(calls, c.channel, &req).await;
    outcome(&state.settings.delivery, c, sent, started, state.clock.now())
}

/// Most reminders per mass-send task (WeCom allows a few a day).
pub const MAX_REMINDERS: i32 = 3;

/// Follows up mass sends awaiting confirmation whose reminder is due: one
/// WeCom reports sent becomes `confirmed`, else the owner is reminded.
/// The due rows are taken in one statement that moves their next follow-up
/// on (so no transaction is held across the WeCom calls, and another
/// instance skips them). Returns how many were due.
pub async fn send_reminders(state: &Sending<'_>, http: &reqwest::Client) -> anyhow::Result<usize> {
    let now = state.clock.now();
    let next = now + Duration::seconds(state.settings.delivery.reminder_interval_secs as i64);
    let due = {
        let mut conn = state.pool.acquire().await?;
        repo::claim_follow_ups(&mut conn, now, next, MAX_REMINDERS).await?
    };
    for (ws, id, msgid, _, channel, creds, settings) in &due {
        // The platform's calls first; a pooled connection only for the short update.
        let calls = Calls { http, tokens: &state.senders.tokens };
        let found = platforms::follow_up(calls, *channel, &creds.0, &settings.0, msgid).await;
        let mut conn = state.pool.acquire().await?;
        if found == FollowUp::Confirmed {
            let from = [DeliveryState::AwaitingConfirmation];
            repo::transition(&mut conn, *ws, *id, &from, DeliveryState::Confirmed, now).await?;
        } else if found == FollowUp::Reminded {
            repo::count_reminder(&mut conn, *ws, *id).await?;
        }
    }
    Ok(due.len())
}

/// The HTTP client of the platforms' outbound calls.
pub fn http_client(s: &DeliverySettings) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .timeout(StdDuration::from_secs(s.request_timeout_secs))
        .connect_timeout(StdDuration::from_secs(5))
        .pool_max_idle_per_host(s.concurrency.max(1))
        .build()?)
}
