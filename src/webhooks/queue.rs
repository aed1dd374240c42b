//! The dispatch queue's SQL: claiming due dispatches under the per-endpoint
//! bound, recording answers (with the endpoints' failure record and their
//! disabling), and giving back expired leases.
//!
//! The per-endpoint bound holds across instances without a leader: a claim
//! locks the endpoint rows it takes from (`FOR NO KEY UPDATE SKIP LOCKED`,
//! so concurrent claims take other endpoints, and the outbox's foreign-key
//! `KEY SHARE` locks are not in conflict), counts that endpoint's leases
//! still running, and claims at most the rest; only a claim turns a
//! dispatch into `sending`, and it holds the endpoint's lock while doing so.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use crate::ids::{EndpointId, WorkspaceId};

/// A claimed dispatch with what sending it needs.
#[derive(Debug, Clone, FromRow)]
pub struct Claimed {
    pub workspace_id: WorkspaceId,
    pub message_id: Uuid,
    pub endpoint_id: EndpointId,
    /// This attempt's number (1 for the first).
    pub attempts: i32,
    pub schedule_base: i32,
    #[sqlx(rename = "type")]
    pub kind: String,
    pub occurred_at: DateTime<Utc>,
    pub data: sqlx::types::Json<Value>,
    pub pii: Option<sqlx::types::Json<Value>>,
    pub include_pii: bool,
    pub url: String,
    pub secret: String,
    /// Set while the previous secret still signs.
    pub previous_secret: Option<String>,
}

/// Claims up to `limit` due dispatches, at most `per_endpoint` in flight per
/// endpoint, leased until `lease`.
pub async fn claim(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    lease: DateTime<Utc>,
    per_endpoint: i64,
    limit: i64,
) -> Result<Vec<Claimed>, sqlx::Error> {
    sqlx::query_as(
        "WITH eps AS (
             SELECT e.workspace_id, e.id FROM webhook_endpoints e
             -- A scalar subquery, not EXISTS: one index probe per endpoint,
             -- where a semi join would read every due dispatch.
             WHERE e.enabled AND (SELECT true FROM webhook_dispatches d
                 WHERE d.workspace_id = e.workspace_id AND d.endpoint_id = e.id AND d.status = 'pending'
                   AND d.next_attempt_at <= $1 LIMIT 1)
             FOR NO KEY UPDATE SKIP LOCKED),
         room AS (
             SELECT eps.workspace_id, eps.id, $3 - (SELECT count(*) FROM webhook_dispatches s
                 WHERE s.workspace_id = eps.workspace_id AND s.endpoint_id = eps.id AND s.status = 'sending'
                   AND s.lease_until > $1) AS n
             FROM eps),
         picked AS (
             SELECT p.workspace_id, p.message_id, p.endpoint_id FROM room CROSS JOIN LATERAL (
                 SELECT d.workspace_id, d.message_id, d.endpoint_id, d.next_attempt_at FROM webhook_dispatches d
                 WHERE d.workspace_id = room.workspace_id AND d.endpoint_id = room.id AND d.status = 'pending'
                   AND d.next_attempt_at <= $1
                 -- The due index's order: the scan stops at the limit.
                 ORDER BY d.next_attempt_at
                 LIMIT greatest(room.n, 0)
                 FOR UPDATE SKIP LOCKED) p
             -- Round-robin over the endpoints when the process has fewer
             -- places than they have work: none is starved by the others.
             ORDER BY row_number() OVER (PARTITION BY p.workspace_id, p.endpoint_id ORDER BY p.next_attempt_at)
             LIMIT $4),
             -- The update joins the picked keys alone (each by the whole
             -- primary key); the message and endpoint are read after.
         upd AS (
             UPDATE webhook_dispatches d SET status = 'sending', lease_until = $2, attempts = d.attempts + 1,
                    last_attempt_at = $1
             FROM picked
             WHERE (d.workspace_id, d.message_id, d.endpoint_id)
                 = (picked.workspace_id, picked.message_id, picked.endpoint_id)
             RETURNING d.workspace_id, d.message_id, d.endpoint_id, d.attempts, d.schedule_base)
         SELECT upd.*, m.type, m.occurred_at, m.data, m.pii, e.include_pii, e.url, e.secret,
                CASE WHEN e.previous_secret_expires_at > $1 THEN e.previous_secret END AS previous_secret
         FROM upd
         JOIN webhook_messages m ON m.workspace_id = upd.workspace_id AND m.id = upd.message_id
         JOIN webhook_endpoints e ON e.workspace_id = upd.workspace_id AND e.id = upd.endpoint_id",
    )
    .bind(now)
    .bind(lease)
    .bind(per_endpoint)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Gives back dispatches whose lease ran out (their process died mid-send):
/// sent again at once; the receiver dedupes by `webhook-id`.
pub async fn recover_expired(conn: &mut PgConnection, now: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE webhook_dispatches SET status = 'pending', lease_until = NULL, next_attempt_at = $1
         WHERE status = 'sending' AND lease_until <= $1",
    )
    .bind(now)
    .execute(conn)
    .await?;
    Ok(r.rows_affected())
}

/// When the next pending dispatch is due.
pub async fn next_due(conn: &mut PgConnection) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar("SELECT min(next_attempt_at) FROM webhook_dispatches WHERE status = 'pending'")
        .fetch_one(conn)
        .await
}

/// What follows an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Delivered,
    /// Retry at that time.
    Retry(DateTime<Utc>),
    Failed,
}

/// One finished attempt.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub workspace_id: WorkspaceId,
    pub message_id: Uuid,
    pub endpoint_id: EndpointId,
    pub number: i32,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub latency_ms: i64,
    pub status_code: Option<i32>,
    pub response: Option<String>,
    pub error: Option<String>,
    pub next: Next,
}

/// An endpoint disabled by [`record`].
#[derive(Debug, Clone, FromRow)]
pub struct Disabled {
    pub workspace_id: WorkspaceId,
    pub id: EndpointId,
    pub url: String,
    pub failing_since: Option<DateTime<Utc>>,
}

/// Per endpoint, from a batch of outcomes in finishing order: the last
/// success, the last failure and the first failure after the last success.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Health {
    ok_at: Option<DateTime<Utc>>,
    fail_at: Option<DateTime<Utc>>,
    failing_from: Option<DateTime<Utc>>,
}

fn health(outcomes: &[Outcome]) -> BTreeMap<(WorkspaceId, EndpointId), Health> {
    let mut sorted: Vec<&Outcome> = outcomes.iter().collect();
    sorted.sort_by_key(|o| o.finished_at);
    let mut out: BTreeMap<(WorkspaceId, EndpointId), Health> = BTreeMap::new();
    for o in sorted {
        let h = out.entry((o.workspace_id, o.endpoint_id)).or_default();
        if o.next == Next::Delivered {
            h.ok_at = Some(o.finished_at);
            h.failing_from = None;
        } else {
            h.fail_at = Some(o.finished_at);
            h.failing_from.get_or_insert(o.finished_at);
        }
    }
    out
}

/// Records finished attempts: each dispatch's new state (only if it is
/// still the attempt this process claimed), the attempt log, and each
/// endpoint's success/failure record; endpoints failing since at least
/// `disable_before` are disabled, their waiting dispatches failed, and
/// returned (for the caller to announce in the same transaction).
pub async fn record(
    conn: &mut PgConnection,
    outcomes: &[Outcome],
    disable_before: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Vec<Disabled>, sqlx::Error> {
    if outcomes.is_empty() {
        return Ok(vec![]);
    }
    let per_endpoint = health(outcomes);
    let ep_ws: Vec<WorkspaceId> = per_endpoint.keys().map(|k| k.0).collect();
    let ep_id: Vec<EndpointId> = per_endpoint.keys().map(|k| k.1).collect();
    // One lock order for every recorder: two instances recording answers of
    // the same endpoints never wait on each other in a cycle.
    sqlx::query(
        "SELECT 1 FROM webhook_endpoints e JOIN unnest($1::uuid[], $2::uuid[]) AS u(ws, id)
             ON e.workspace_id = u.ws AND e.id = u.id
         ORDER BY e.workspace_id, e.id FOR NO KEY UPDATE OF e",
    )
    .bind(&ep_ws)
    .bind(&ep_id)
    .execute(&mut *conn)
    .await?;
    // Only the attempts whose dispatch is still the one claimed (and now
    // locked by this transaction: an endpoint deleted meanwhile took its
    // dispatches along, a lease that ran out was claimed again) are logged.
    let kept = update_dispatches(conn, outcomes).await?;
    let logged: Vec<Outcome> =
        outcomes.iter().filter(|o| kept.contains(&(o.workspace_id, o.message_id, o.endpoint_id))).cloned().collect();
    log_attempts(conn, &logged).await?;
    update_endpoints(conn, &per_endpoint).await?;
    if per_endpoint.values().all(|h| h.failing_from.is_none()) {
        return Ok(vec![]);
    }
    let disabled: Vec<Disabled> = sqlx::query_as(
        "UPDATE webhook_endpoints e SET enabled = false, disabled_at = $3, updated_at = $3,
                disabled_reason = 'every attempt failed since ' || to_char(e.failing_since AT TIME ZONE 'UTC',
                                  'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')
         FROM unnest($1::uuid[], $2::uuid[]) AS u(ws, id)
         WHERE e.workspace_id = u.ws AND e.id = u.id AND e.enabled AND e.failing_since <= $4
         RETURNING e.workspace_id, e.id, e.url, e.failing_since",
    )
    .bind(&ep_ws)
    .bind(&ep_id)
    .bind(now)
    .bind(disable_before)
    .fetch_all(&mut *conn)
    .await?;
    for d in &disabled {
        super::repo::fail_waiting(conn, d.workspace_id, d.id, "the endpoint was disabled").await?;
    }
    Ok(disabled)
}

/// Each dispatch's new state, if it is still at the attempt that was made;
/// returns the dispatches updated.
async fn update_dispatches(
    conn: &mut PgConnection,
    outcomes: &[Outcome],
) -> Result<std::collections::HashSet<(WorkspaceId, Uuid, EndpointId)>, sqlx::Error> {
    let status: Vec<&str> = outcomes
        .iter()
        .map(|o| match o.next {
            Next::Delivered => "delivered",
            Next::Retry(_) => "pending",
            Next::Failed => "failed",
        })
        .collect();
    let next_at: Vec<Option<DateTime<Utc>>> =
        outcomes.iter().map(|o| if let Next::Retry(t) = o.next { Some(t) } else { None }).collect();
    let rows: Vec<(WorkspaceId, Uuid, EndpointId)> = sqlx::query_as(
        "UPDATE webhook_dispatches d SET status = u.status, next_attempt_at = coalesce(u.next_at, d.next_attempt_at),
                lease_until = NULL, last_status_code = u.code, last_error = u.error
         FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::int[], $5::text[], $6::timestamptz[], $7::int[], $8::text[])
              AS u(ws, msg, ep, number, status, next_at, code, error)
         WHERE d.workspace_id = u.ws AND d.message_id = u.msg AND d.endpoint_id = u.ep
           AND d.status = 'sending' AND d.attempts = u.number
         RETURNING d.workspace_id, d.message_id, d.endpoint_id",
    )
    .bind(outcomes.iter().map(|o| o.workspace_id).collect::<Vec<_>>())
    .bind(outcomes.iter().map(|o| o.message_id).collect::<Vec<_>>())
    .bind(outcomes.iter().map(|o| o.endpoint_id).collect::<Vec<_>>())
    .bind(outcomes.iter().map(|o| o.number).collect::<Vec<_>>())
    .bind(&status)
    .bind(&next_at)
    .bind(outcomes.iter().map(|o| o.status_code).collect::<Vec<_>>())
    .bind(outcomes.iter().map(|o| o.error.clone()).collect::<Vec<_>>())
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().collect())
}

/// The attempt log.
async fn log_attempts(conn: &mut PgConnection, outcomes: &[Outcome]) -> Result<(), sqlx::Error> {
    if outcomes.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO webhook_attempts (workspace_id, message_id, endpoint_id, number, started_at, latency_ms,
                                       status_code, response, error)
         SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::int[], $5::timestamptz[], $6::bigint[],
                              $7::int[], $8::text[], $9::text[])
         ON CONFLICT DO NOTHING",
    )
    .bind(outcomes.iter().map(|o| o.workspace_id).collect::<Vec<_>>())
    .bind(outcomes.iter().map(|o| o.message_id).collect::<Vec<_>>())
    .bind(outcomes.iter().map(|o| o.endpoint_id).collect::<Vec<_>>())
    .bind(outcomes.iter().map(|o| o.number).collect::<Vec<_>>())
    .bind(outcomes.iter().map(|o| o.started_at).collect::<Vec<_>>())
    .bind(outcomes.iter().map(|o| o.latency_ms).collect::<Vec<_>>())
    .bind(outcomes.iter().map(|o| o.status_code).collect::<Vec<_>>())
    .bind(outcomes.iter().map(|o| o.response.clone()).collect::<Vec<_>>())
    .bind(outcomes.iter().map(|o| o.error.clone()).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

/// Each endpoint's last success and failure, and when its failing began.
async fn update_endpoints(
    conn: &mut PgConnection,
    per_endpoint: &BTreeMap<(WorkspaceId, EndpointId), Health>,
) -> Result<(), sqlx::Error> {
    let hs: Vec<&Health> = per_endpoint.values().collect();
    sqlx::query(
        "UPDATE webhook_endpoints e SET
             last_success_at = coalesce(u.ok_at, e.last_success_at),
             last_failure_at = coalesce(u.fail_at, e.last_failure_at),
             failing_since = CASE WHEN u.failing_from IS NULL THEN CASE WHEN u.ok_at IS NULL THEN e.failing_since END
                                  WHEN u.ok_at IS NULL THEN coalesce(e.failing_since, u.failing_from)
                                  ELSE u.failing_from END
         FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[], $4::timestamptz[], $5::timestamptz[])
              AS u(ws, id, ok_at, fail_at, failing_from)
         WHERE e.workspace_id = u.ws AND e.id = u.id",
    )
    .bind(per_endpoint.keys().map(|k| k.0).collect::<Vec<_>>())
    .bind(per_endpoint.keys().map(|k| k.1).collect::<Vec<_>>())
    .bind(hs.iter().map(|h| h.ok_at).collect::<Vec<_>>())
    .bind(hs.iter().map(|h| h.fail_at).collect::<Vec<_>>())
    .bind(hs.iter().map(|h| h.failing_from).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + s, 0).unwrap()
    }

    fn o(ep: EndpointId, finished: i64, next: Next) -> Outcome {
        Outcome {
            workspace_id: WorkspaceId(Uuid::nil()),
            message_id: Uuid::now_v7(),
            endpoint_id: ep,
            number: 1,
            started_at: at(finished),
            finished_at: at(finished),
            latency_ms: 0,
            status_code: None,
            response: None,
            error: None,
            next,
        }
    }

    #[test]
    fn an_endpoints_failing_streak_starts_after_its_last_success() {
        let (a, b, c) =
            (EndpointId(Uuid::from_u128(1)), EndpointId(Uuid::from_u128(2)), EndpointId(Uuid::from_u128(3)));
        let h = health(&[
            o(a, 3, Next::Failed),
            o(a, 1, Next::Retry(at(9))),
            o(a, 2, Next::Delivered),
            o(b, 5, Next::Delivered),
            o(b, 4, Next::Failed),
            o(c, 7, Next::Retry(at(9))),
        ]);
        let key = |e| (WorkspaceId(Uuid::nil()), e);
        assert_eq!(h[&key(a)], Health { ok_at: Some(at(2)), fail_at: Some(at(3)), failing_from: Some(at(3)) });
        assert_eq!(h[&key(b)], Health { ok_at: Some(at(5)), fail_at: Some(at(4)), failing_from: None });
        assert_eq!(h[&key(c)], Health { ok_at: None, fail_at: Some(at(7)), failing_from: Some(at(7)) });
    }
}
