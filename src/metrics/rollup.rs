//! The rollup worker: keeps `metric_member_days`, `metric_orders` and
//! `metric_campaign_clicks` equal to what the raw events say.
//!
//! Ingestion appends the local days it touched to `metric_dirty_days` (in
//! its own transaction, so a committed event always has its dirty row). A
//! pass takes a try-lock (one roller at a time across instances), reads the
//! queue in a REPEATABLE READ snapshot, recomputes each dirty day from the
//! events visible in that same snapshot, and deletes the queue rows it
//! handled — so an event committed after the snapshot leaves its queue row
//! for the next pass, and nothing is ever counted from a partial view. A day
//! is recomputed whole (delete, then aggregate), which makes late and
//! redelivered events exact by construction; orders and clicks are merged
//! with order-independent rules (first refund wins), so re-running is harmless.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::ids::WorkspaceId;

/// Advisory lock key of the rollup worker ("shequn-r").
const LOCK_KEY: i64 = 0x7368_6571_756e_2d72;

/// Most queue rows one pass takes.
const BATCH: i64 = 5000;

/// Queues the local days (workspace timezone) of these event times for recomputation.
pub async fn mark_dirty(conn: &mut PgConnection, ws: WorkspaceId, times: &[DateTime<Utc>]) -> Result<(), sqlx::Error> {
    if times.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO metric_dirty_days (workspace_id, day)
         SELECT DISTINCT w.id, (t AT TIME ZONE w.timezone)::date
         FROM unnest($2::timestamptz[]) AS t, workspaces w WHERE w.id = $1",
    )
    .bind(ws)
    .bind(times)
    .execute(conn)
    .await?;
    Ok(())
}

/// Queues a rebuild of every day of a workspace (after its timezone or active set changed).
pub async fn mark_all_dirty(conn: &mut PgConnection, ws: WorkspaceId) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO metric_dirty_days (workspace_id, day) VALUES ($1, NULL)").bind(ws).execute(conn).await?;
    Ok(())
}

/// Whether some of the workspace's days in `[from, to]` wait for recomputation.
pub async fn pending(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM metric_dirty_days WHERE workspace_id = $1
                        AND (day IS NULL OR day BETWEEN $2 AND $3))",
    )
    .bind(ws)
    .bind(from)
    .bind(to)
    .fetch_one(conn)
    .await
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    /// Queue rows handled.
    pub queued: usize,
    /// Days recomputed (a full rebuild counts as one).
    pub days: usize,
    /// False when another instance held the lock (nothing was done).
    pub ran: bool,
}

/// One pass over the queue (at most [`BATCH`] rows), retried on a
/// serialization failure. Returns what it did.
pub async fn run_once(pool: &PgPool) -> anyhow::Result<Pass> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match pass(pool).await {
            Err(e)
                if attempt < 5 && e.downcast_ref::<sqlx::Error>().is_some_and(crate::events::service::is_retryable) =>
            {
                tracing::debug!(attempt, "rollup pass raced another; retrying");
            }
            other => return other,
        }
    }
}

/// Runs passes until the queue is empty (or another instance holds the lock).
pub async fn drain(pool: &PgPool) -> anyhow::Result<usize> {
    let mut days = 0;
    loop {
        let p = run_once(pool).await?;
        days += p.days;
        if !p.ran || p.queued == 0 {
            return Ok(days);
        }
    }
}

async fn pass(pool: &PgPool) -> anyhow::Result<Pass> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ").execute(&mut *tx).await?;
    let locked: bool =
        sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)").bind(LOCK_KEY).fetch_one(&mut *tx).await?;
    if !locked {
        return Ok(Pass::default());
    }
    let rows: Vec<(Uuid, i64, Option<NaiveDate>)> =
        sqlx::query_as("SELECT workspace_id, id, day FROM metric_dirty_days ORDER BY id LIMIT $1")
            .bind(BATCH)
            .fetch_all(&mut *tx)
            .await?;
    let mut work: BTreeMap<Uuid, (Vec<i64>, Option<BTreeSet<NaiveDate>>)> = BTreeMap::new();
    for (ws, id, day) in &rows {
        let entry = work.entry(*ws).or_insert_with(|| (Vec::new(), Some(BTreeSet::new())));
        entry.0.push(*id);
        match (day, &mut entry.1) {
            (Some(d), Some(days)) => {
                days.insert(*d);
            }
            (None, days) => *days = None,
            (Some(_), None) => {}
        }
    }
    let mut done = 0;
    for (ws, (ids, days)) in work {
        let ws = WorkspaceId(ws);
        let Some(settings) = workspace(&mut tx, ws).await? else {
            // The workspace is gone: drop its queue rows.
            delete_queued(&mut tx, ws, &ids).await?;
            continue;
        };
        match days {
            None => {
                rebuild(&mut tx, ws, &settings).await.context("full rollup rebuild")?;
                done += 1;
            }
            Some(days) => {
                for day in days {
                    recompute_day(&mut tx, ws, &settings, day).await.with_context(|| format!("rollup of {day}"))?;
                    done += 1;
                }
            }
        }
        delete_queued(&mut tx, ws, &ids).await?;
    }
    tx.commit().await?;
    Ok(Pass { queued: rows.len(), days: done, ran: true })
}

/// What the rollups of a workspace depend on.
struct WsSettings {
    timezone: String,
    active: Vec<String>,
}

async fn workspace(conn: &mut PgConnection, ws: WorkspaceId) -> Result<Option<WsSettings>, sqlx::Error> {
    let row: Option<(String, Vec<String>)> =
        sqlx::query_as("SELECT timezone, active_event_types FROM workspaces WHERE id = $1")
            .bind(ws)
            .fetch_optional(conn)
            .await?;
    Ok(row.map(|(timezone, active)| WsSettings { timezone, active }))
}

async fn delete_queued(conn: &mut PgConnection, ws: WorkspaceId, ids: &[i64]) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM metric_dirty_days WHERE workspace_id = $1 AND id = ANY($2)")
        .bind(ws)
        .bind(ids)
        .execute(conn)
        .await?;
    Ok(())
}

/// The instants bounding a local day.
fn day_bounds(tz: &str, day: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let zone = crate::clock::zone(tz);
    (
        crate::metrics::period::day_start(zone, day),
        crate::metrics::period::day_start(zone, day.succ_opt().unwrap_or(day)),
    )
}

async fn recompute_day(conn: &mut PgConnection, ws: WorkspaceId, s: &WsSettings, day: NaiveDate) -> anyhow::Result<()> {
    let (lo, hi) = day_bounds(&s.timezone, day);
    sqlx::query("DELETE FROM metric_member_days WHERE workspace_id = $1 AND day = $2")
        .bind(ws)
        .bind(day)
        .execute(&mut *conn)
        .await?;
    aggregate(conn, ws, s, lo, hi).await
}

async fn rebuild(conn: &mut PgConnection, ws: WorkspaceId, s: &WsSettings) -> anyhow::Result<()> {
    for table in ["metric_member_days", "metric_orders", "metric_campaign_clicks"] {
        sqlx::query(&format!("DELETE FROM {table} WHERE workspace_id = $1")).bind(ws).execute(&mut *conn).await?;
    }
    aggregate(conn, ws, s, DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC).await
}

/// Rolls up the events of `[lo, hi)` (whose member-day rows were deleted).
async fn aggregate(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    s: &WsSettings,
    lo: DateTime<Utc>,
    hi: DateTime<Utc>,
) -> anyhow::Result<()> {
    let (lo, hi) = (lo.max(min_time()), hi.min(max_time()));
    sqlx::query(include_str!("sql/member_days.sql"))
        .bind(ws)
        .bind(&s.timezone)
        .bind(&s.active)
        .bind(lo)
        .bind(hi)
        .execute(&mut *conn)
        .await
        .context("member days")?;
    sqlx::query(include_str!("sql/orders_paid.sql")).bind(ws).bind(lo).bind(hi).execute(&mut *conn).await?;
    sqlx::query(include_str!("sql/orders_refunded.sql")).bind(ws).bind(lo).bind(hi).execute(&mut *conn).await?;
    sqlx::query(
        "INSERT INTO metric_campaign_clicks (workspace_id, member_id, clicked_at, event_id, campaign_id)
         SELECT workspace_id, member_id, occurred_at, id, campaign_id FROM events
         WHERE workspace_id = $1 AND occurred_at >= $2 AND occurred_at < $3
           AND type = 'link_clicked' AND member_id IS NOT NULL AND campaign_id IS NOT NULL
         ON CONFLICT DO NOTHING",
    )
    .bind(ws)
    .bind(lo)
    .bind(hi)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

// Postgres timestamptz spans 4713 BC..294276 AD; chrono's extremes do not fit.
fn min_time() -> DateTime<Utc> {
    DateTime::from_timestamp(-210_866_803_200, 0).unwrap_or_default()
}

fn max_time() -> DateTime<Utc> {
    DateTime::from_timestamp(253_402_300_799, 0).unwrap_or_default()
}
