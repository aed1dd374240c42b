//! The rollup worker: keeps `metric_member_days`, the day sets derived from
//! them (`metric_group_days`, `metric_days`, numbered by
//! `metric_member_index`, see `sets`), the funnel timelines
//! (`metric_member_events`, `metric_type_days`, see `timelines`),
//! `metric_orders` (with each order's last-click campaign under the default
//! attribution window, and packed per payment day: `order_days`) and
//! `metric_campaign_clicks` equal to what the raw events say,
//! and the packed stints per group (`metric_group_stints`, see `stints`)
//! equal to `memberships`.
//!
//! The subscriber in `reaction` appends the local days new events fall on
//! to `metric_dirty_days` and the groups whose stints they touched to
//! `metric_dirty_stints` (in the storing transaction, so a committed event
//! always has its queue rows); a full rebuild repacks every group. A
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

use crate::events::model::TYPES;
use crate::ids::WorkspaceId;
use crate::metrics::period::{day_bounds, local_day};
use crate::metrics::store::order_days;
use crate::workspaces::model::Workspace;

/// Advisory lock key of the rollup worker ("shequn-r").
const LOCK_KEY: i64 = 0x7368_6571_756e_2d72;

/// Rollup tables keyed by local day (recomputed day by day).
pub const DAY_TABLES: [&str; 5] =
    ["metric_member_days", "metric_group_days", "metric_days", "metric_member_events", "metric_type_days"];

/// Rollup tables keyed otherwise (merged, emptied only by a rebuild).
pub const OTHER_TABLES: [&str; 4] =
    ["metric_orders", "metric_campaign_clicks", "metric_member_months", "metric_order_days"];

/// Most queue rows one pass takes.
const BATCH: i64 = 5000;

/// Queues the local days (workspace timezone) of these event times for
/// recomputation. The workspace row is share-locked, so a timezone change
/// (which queues a full rebuild) waits for batches numbering days the old way.
pub async fn mark_dirty(conn: &mut PgConnection, ws: WorkspaceId, times: &[DateTime<Utc>]) -> Result<(), sqlx::Error> {
    if times.is_empty() {
        return Ok(());
    }
    let tz = crate::workspaces::repo::timezone_for_share(conn, ws).await?;
    let Some(tz) = tz else { return Ok(()) };
    let zone = crate::clock::zone(&tz);
    let days: Vec<NaiveDate> = times.iter().map(|t| local_day(zone, *t)).collect::<BTreeSet<_>>().into_iter().collect();
    sqlx::query("INSERT INTO metric_dirty_days (workspace_id, day) SELECT $1, d FROM unnest($2::date[]) AS d")
        .bind(ws)
        .bind(&days)
        .execute(conn)
        .await?;
    Ok(())
}

/// Queues the stints of these groups for repacking (their memberships changed).
pub async fn mark_stints_dirty(conn: &mut PgConnection, ws: WorkspaceId, groups: &[Uuid]) -> Result<(), sqlx::Error> {
    if groups.is_empty() {
        return Ok(());
    }
    sqlx::query("INSERT INTO metric_dirty_stints (workspace_id, group_id) SELECT $1, g FROM unnest($2::uuid[]) AS g")
        .bind(ws)
        .bind(groups)
        .execute(conn)
        .await?;
    Ok(())
}

/// Queues a rebuild of every day of a workspace (after its timezone or active set changed).
pub async fn mark_all_dirty(conn: &mut PgConnection, ws: WorkspaceId) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO metric_dirty_days (workspace_id, day) VALUES ($1, NULL)").bind(ws).execute(conn).await?;
    Ok(())
}

/// Where the queues stand: the sum of their newest row ids, 0 when both
/// are empty. It changes whenever a row is queued (ids only grow), so two
/// equal readings mean nothing was queued in between.
pub async fn queue_mark(pool: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT COALESCE((SELECT max(id) FROM metric_dirty_days), 0)
              + COALESCE((SELECT max(id) FROM metric_dirty_stints), 0)",
    )
    .fetch_one(pool)
    .await
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
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pass {
    /// Queue rows handled.
    pub queued: usize,
    /// False when another instance held the lock (nothing was done).
    pub ran: bool,
    /// What was recomputed: (workspace, local day), the day `None` for a full rebuild.
    pub recomputed: BTreeSet<(Uuid, Option<NaiveDate>)>,
}

impl Pass {
    /// Days recomputed (a full rebuild counts as one).
    pub fn days(&self) -> usize {
        self.recomputed.len()
    }

    /// Whether more is queued for what this pass recomputed: days still
    /// receiving events, which the next pass would aggregate whole again.
    pub async fn requeued(&self, pool: &PgPool) -> Result<bool, sqlx::Error> {
        if self.recomputed.is_empty() {
            return Ok(false);
        }
        let (workspaces, days): (Vec<Uuid>, Vec<Option<NaiveDate>>) = self.recomputed.iter().copied().unzip();
        sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM unnest($1::uuid[], $2::date[]) AS r(ws, day)
                            JOIN metric_dirty_days q ON q.workspace_id = r.ws
                             AND (r.day IS NULL OR q.day IS NULL OR q.day = r.day))",
        )
        .bind(&workspaces)
        .bind(&days)
        .fetch_one(pool)
        .await
    }
}

/// One pass over the queue (its days chosen from at most [`BATCH`] rows), retried on a
/// serialization failure. Returns what it did.
pub async fn run_once(pool: &PgPool) -> anyhow::Result<Pass> {
    run_once_reading(pool, BATCH).await
}

/// [`run_once`] reading at most `batch` queue rows to choose its days.
pub async fn run_once_reading(pool: &PgPool, batch: i64) -> anyhow::Result<Pass> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match pass(pool, batch).await {
            Err(e) if attempt < 5 && e.downcast_ref::<sqlx::Error>().is_some_and(crate::db::is_retryable) => {
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
        days += p.days();
        if !p.ran || p.queued == 0 {
            return Ok(days);
        }
    }
}

async fn pass(pool: &PgPool, batch: i64) -> anyhow::Result<Pass> {
    let mut tx = crate::db::begin(pool).await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ").execute(&mut *tx).await?;
    let locked: bool =
        sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)").bind(LOCK_KEY).fetch_one(&mut *tx).await?;
    if !locked {
        return Ok(Pass::default());
    }
    let rows: Vec<(Uuid, Option<NaiveDate>)> =
        sqlx::query_as("SELECT workspace_id, day FROM metric_dirty_days ORDER BY id LIMIT $1")
            .bind(batch)
            .fetch_all(&mut *tx)
            .await?;
    // Per workspace, the days to recompute (None: all of them).
    let mut work: BTreeMap<Uuid, Option<BTreeSet<NaiveDate>>> = BTreeMap::new();
    for (ws, day) in &rows {
        let entry = work.entry(*ws).or_insert_with(|| Some(BTreeSet::new()));
        match (day, entry) {
            (Some(d), Some(days)) => {
                days.insert(*d);
            }
            (None, days) => *days = None,
            (Some(_), None) => {}
        }
    }
    let (mut cleared, mut recomputed) = (0u64, BTreeSet::new());
    let stints = pack_dirty_stints(&mut tx).await.context("group stints")?;
    for (ws, days) in work {
        let ws = WorkspaceId(ws);
        let Some(w) = crate::workspaces::repo::get(&mut tx, ws).await? else {
            // The workspace is gone: drop its queue rows.
            cleared += delete_queued(&mut tx, ws, None).await?;
            continue;
        };
        match days {
            None => {
                rebuild(&mut tx, &w).await.context("full rollup rebuild")?;
                recomputed.insert((ws.0, None));
                // Every event of the workspace in this snapshot is rolled up.
                cleared += delete_queued(&mut tx, ws, None).await?;
            }
            Some(days) => {
                for (first, last) in runs(&days) {
                    recompute_days(&mut tx, &w, first, last)
                        .await
                        .with_context(|| format!("rollup of {first}..={last}"))?;
                }
                recomputed.extend(days.iter().map(|d| (ws.0, Some(*d))));
                // The days are recomputed from this snapshot, so every queue row
                // of them it shows is handled, not only the rows read above.
                let days: Vec<NaiveDate> = days.into_iter().collect();
                cleared += delete_queued(&mut tx, ws, Some(&days)).await?;
            }
        }
    }
    tx.commit().await?;
    Ok(Pass { queued: cleared as usize + stints, ran: true, recomputed })
}

/// Repacks the stints of the groups queued in `metric_dirty_stints` (at
/// most [`BATCH`] groups) and deletes their queue rows — every one visible in
/// this snapshot, since the rows are packed from the same snapshot. Returns
/// how many groups it packed.
async fn pack_dirty_stints(conn: &mut PgConnection) -> anyhow::Result<usize> {
    let rows: Vec<(Uuid, Uuid)> =
        sqlx::query_as("SELECT DISTINCT workspace_id, group_id FROM metric_dirty_stints LIMIT $1")
            .bind(BATCH)
            .fetch_all(&mut *conn)
            .await?;
    let mut work: BTreeMap<Uuid, Vec<Uuid>> = BTreeMap::new();
    for (ws, g) in &rows {
        work.entry(*ws).or_default().push(*g);
    }
    for (ws, groups) in work {
        pack_stints(conn, WorkspaceId(ws), Some(&groups)).await?;
    }
    Ok(rows.len())
}

/// Packs the stints of these groups of a workspace (None: all) into
/// `metric_group_stints` (numbering members who have none yet) and deletes
/// their queue rows. A group without stints loses its row.
async fn pack_stints(conn: &mut PgConnection, ws: WorkspaceId, groups: Option<&[Uuid]>) -> Result<(), sqlx::Error> {
    let only = |col: &str| if groups.is_some() { format!("AND {col} = ANY($2)") } else { String::new() };
    sqlx::query(&format!(
        "INSERT INTO metric_member_index (workspace_id, member_id, idx)
         SELECT $1, n.member_id,
                (SELECT COALESCE(max(idx), -1) FROM metric_member_index WHERE workspace_id = $1)
                    + row_number() OVER (ORDER BY n.member_id)
         FROM (SELECT DISTINCT s.member_id FROM memberships s
               WHERE s.workspace_id = $1 {}
                 AND NOT EXISTS (SELECT 1 FROM metric_member_index i
                                 WHERE i.workspace_id = $1 AND i.member_id = s.member_id)) n",
        only("s.group_id")
    ))
    .bind(ws)
    .bind(groups)
    .execute(&mut *conn)
    .await?;
    fill_excluded(&mut *conn, ws).await?;
    // The queue rows go with the old rows: everything they name is packed below, from this snapshot.
    for table in ["metric_group_stints", "metric_dirty_stints"] {
        sqlx::query(&format!("DELETE FROM {table} WHERE workspace_id = $1 {}", only("group_id")))
            .bind(ws)
            .bind(groups)
            .execute(&mut *conn)
            .await?;
    }
    sqlx::query(&format!(
        "INSERT INTO metric_group_stints (workspace_id, group_id, stints, data)
         SELECT $1, s.group_id, count(*),
                string_agg(int4send(i.idx) || int8send((extract(epoch FROM s.joined_at) * 1000000)::int8)
                           || int8send(COALESCE((extract(epoch FROM s.left_at) * 1000000)::int8,
                                                9223372036854775807)),
                           '' ORDER BY i.idx, s.joined_at)
         FROM memberships s
         JOIN metric_member_index i ON i.workspace_id = $1 AND i.member_id = s.member_id
         WHERE s.workspace_id = $1 {} AND s.left_at IS DISTINCT FROM s.joined_at
         GROUP BY s.group_id",
        only("s.group_id")
    ))
    .bind(ws)
    .bind(groups)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Fills in the numbers of staff and bots the staff mask (`metric_excluded`)
/// lacks: members numbered since (or before they became staff, unseen by the
/// trigger in a concurrent pass).
async fn fill_excluded(conn: &mut PgConnection, ws: WorkspaceId) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE metric_excluded e SET idx = i.idx FROM metric_member_index i
         WHERE e.workspace_id = $1 AND e.idx IS NULL AND i.workspace_id = $1 AND i.member_id = e.member_id",
    )
    .bind(ws)
    .execute(conn)
    .await?;
    Ok(())
}

/// Deletes the workspace's queue rows this pass's snapshot shows: of these
/// days (`None`: all, a full rebuild's). Rows committed after the snapshot
/// stay for the next pass. Returns how many went.
async fn delete_queued(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    days: Option<&[NaiveDate]>,
) -> Result<u64, sqlx::Error> {
    let done =
        sqlx::query("DELETE FROM metric_dirty_days WHERE workspace_id = $1 AND ($2::date[] IS NULL OR day = ANY($2))")
            .bind(ws)
            .bind(days)
            .execute(conn)
            .await?;
    Ok(done.rows_affected())
}

/// The runs of consecutive days in a set, as (first, last).
fn runs(days: &BTreeSet<NaiveDate>) -> Vec<(NaiveDate, NaiveDate)> {
    let mut out: Vec<(NaiveDate, NaiveDate)> = Vec::new();
    for &d in days {
        match out.last_mut() {
            Some((_, last)) if last.succ_opt() == Some(d) => *last = d,
            _ => out.push((d, d)),
        }
    }
    out
}

/// Recomputes the local days `first..=last` whole: one aggregate for the run
/// (a month's values are rebuilt once, not once per day).
async fn recompute_days(
    conn: &mut PgConnection,
    w: &Workspace,
    first: NaiveDate,
    last: NaiveDate,
) -> anyhow::Result<()> {
    for table in DAY_TABLES {
        sqlx::query(&format!("DELETE FROM {table} WHERE workspace_id = $1 AND day BETWEEN $2 AND $3"))
            .bind(w.id)
            .bind(first)
            .bind(last)
            .execute(&mut *conn)
            .await?;
    }
    aggregate(conn, w, first, last).await
}

async fn rebuild(conn: &mut PgConnection, w: &Workspace) -> anyhow::Result<()> {
    for table in DAY_TABLES.iter().chain(&OTHER_TABLES) {
        sqlx::query(&format!("DELETE FROM {table} WHERE workspace_id = $1")).bind(w.id).execute(&mut *conn).await?;
    }
    // Numbers stay (sets of other days keep meaning the same members); first active days are re-derived.
    sqlx::query("UPDATE metric_member_index SET first_active = NULL WHERE workspace_id = $1")
        .bind(w.id)
        .execute(&mut *conn)
        .await?;
    let span: (Option<DateTime<Utc>>, Option<DateTime<Utc>>) =
        sqlx::query_as("SELECT min(occurred_at), max(occurred_at) FROM events WHERE workspace_id = $1")
            .bind(w.id)
            .fetch_one(&mut *conn)
            .await?;
    // Every group's stints too: writers that load memberships in bulk (the demo) queue only the rebuild.
    pack_stints(conn, w.id, None).await?;
    let (Some(first), Some(last)) = span else { return Ok(()) };
    let zone = crate::clock::zone(&w.timezone);
    aggregate(conn, w, local_day(zone, first), local_day(zone, last)).await
}

/// Numbers the members of the member-day rows of `first..=last` that have
/// no index yet, after the workspace's highest (the caller holds the
/// roller's lock, so no one else numbers at the same time), moves their
/// first active day earlier where these days say so, and fills in the
/// numbers of staff and bots the staff mask (`metric_excluded`) lacks.
async fn number_members(
    conn: &mut PgConnection,
    w: &Workspace,
    first: NaiveDate,
    last: NaiveDate,
) -> anyhow::Result<()> {
    on_days(
        &mut *conn,
        w,
        first,
        last,
        "INSERT INTO metric_member_index (workspace_id, member_id, idx)
         SELECT $1, n.member_id,
                (SELECT COALESCE(max(idx), -1) FROM metric_member_index WHERE workspace_id = $1)
                    + row_number() OVER (ORDER BY n.member_id)
         FROM (SELECT DISTINCT d.member_id FROM metric_member_days d
               WHERE d.workspace_id = $1 AND d.day BETWEEN $2 AND $3
                 AND NOT EXISTS (SELECT 1 FROM metric_member_index i
                                 WHERE i.workspace_id = $1 AND i.member_id = d.member_id)) n",
    )
    .await?;
    on_days(
        &mut *conn,
        w,
        first,
        last,
        "UPDATE metric_member_index i SET first_active = x.day
         FROM (SELECT d.member_id, min(d.day) AS day FROM metric_member_days d
               WHERE d.workspace_id = $1 AND d.day BETWEEN $2 AND $3 AND d.active_events > 0
               GROUP BY d.member_id) x
         WHERE i.workspace_id = $1 AND i.member_id = x.member_id
           AND (i.first_active IS NULL OR i.first_active > x.day)",
    )
    .await?;
    fill_excluded(conn, w.id).await?;
    Ok(())
}

/// Runs a statement whose parameters are the workspace and the local days `$2..=$3`.
async fn on_days(
    conn: &mut PgConnection,
    w: &Workspace,
    first: NaiveDate,
    last: NaiveDate,
    sql: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(sql).bind(w.id).bind(first).bind(last).execute(conn).await?;
    Ok(())
}

/// Packs each member's events of the local days `first..=last` (bounds as
/// computed by [`aggregate`]), derives the per-type day sets from them and
/// rebuilds the month values of the members and months they touch.
async fn member_events(
    conn: &mut PgConnection,
    w: &Workspace,
    first: NaiveDate,
    last: NaiveDate,
    bounds: &[DateTime<Utc>],
) -> Result<(), sqlx::Error> {
    let (Some(&lo), Some(&hi)) = (bounds.first(), bounds.last()) else { return Ok(()) };
    sqlx::query(include_str!("sql/member_events.sql"))
        .bind(w.id)
        .bind(first)
        .bind(bounds)
        .bind(lo)
        .bind(hi)
        .bind(&TYPES[..])
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO metric_type_days (workspace_id, day, type_code, members)
         SELECT $1, d.day, t.code, array_agg(d.member_idx ORDER BY d.member_idx)
         FROM metric_member_events d CROSS JOIN generate_series(0, $4) AS t(code)
         WHERE d.workspace_id = $1 AND d.day BETWEEN $2 AND $3 AND d.types & (1 << t.code) <> 0
         GROUP BY d.day, t.code",
    )
    .bind(w.id)
    .bind(first)
    .bind(last)
    .bind(TYPES.len() as i32 - 1)
    .execute(&mut *conn)
    .await?;
    // Events are never removed, so the members with events on these days
    // include everyone whose month rows they change.
    on_days(
        &mut *conn,
        w,
        first,
        last,
        "INSERT INTO metric_member_months (workspace_id, member_idx, month, data)
         SELECT $1, d.member_idx, t.month, string_agg(d.data, '' ORDER BY d.day)
         FROM (SELECT DISTINCT member_idx, date_trunc('month', day)::date AS month FROM metric_member_events
               WHERE workspace_id = $1 AND day BETWEEN $2 AND $3) t
         JOIN metric_member_events d ON d.workspace_id = $1 AND d.member_idx = t.member_idx
              AND d.day >= t.month AND d.day < (t.month + interval '1 month')::date
         GROUP BY d.member_idx, t.month
         ON CONFLICT (workspace_id, member_idx, month) DO UPDATE SET data = EXCLUDED.data",
    )
    .await?;
    Ok(())
}

/// Rolls up the events of the local days `first..=last` (whose member-day rows were deleted).
async fn aggregate(conn: &mut PgConnection, w: &Workspace, first: NaiveDate, last: NaiveDate) -> anyhow::Result<()> {
    let bounds = day_bounds(crate::clock::zone(&w.timezone), first, last);
    let (Some(&lo), Some(&hi)) = (bounds.first(), bounds.last()) else { return Ok(()) };
    sqlx::query(include_str!("sql/member_days.sql"))
        .bind(w.id)
        .bind(first)
        .bind(&w.active_event_types)
        .bind(&bounds)
        .bind(lo)
        .bind(hi)
        .execute(&mut *conn)
        .await
        .context("member days")?;
    number_members(conn, w, first, last).await.context("member index")?;
    for statement in include_str!("sql/day_sets.sql").split("\n--\n") {
        on_days(&mut *conn, w, first, last, statement).await.context("day sets")?;
    }
    member_events(conn, w, first, last, &bounds).await.context("member events")?;
    sqlx::query(include_str!("sql/orders_paid.sql")).bind(w.id).bind(lo).bind(hi).execute(&mut *conn).await?;
    sqlx::query(include_str!("sql/orders_refunded.sql")).bind(w.id).bind(lo).bind(hi).execute(&mut *conn).await?;
    sqlx::query(
        "INSERT INTO metric_campaign_clicks (workspace_id, member_id, clicked_at, event_id, campaign_id)
         SELECT workspace_id, member_id, occurred_at, id, campaign_id FROM events
         WHERE workspace_id = $1 AND occurred_at >= $2 AND occurred_at < $3
           AND type = 'link_clicked' AND member_id IS NOT NULL AND campaign_id IS NOT NULL
         ON CONFLICT DO NOTHING",
    )
    .bind(w.id)
    .bind(lo)
    .bind(hi)
    .execute(&mut *conn)
    .await?;
    // Orders of other days these days change: re-attributed by a click, or refunded.
    let window = chrono::Duration::days(crate::metrics::store::rows::DEFAULT_ATTRIBUTION_DAYS).num_seconds() as f64;
    let mut paid: Vec<DateTime<Utc>> = sqlx::query_scalar(include_str!("sql/orders_attributed.sql"))
        .bind(w.id)
        .bind(lo)
        .bind(hi)
        .bind(window)
        .fetch_all(&mut *conn)
        .await
        .context("order attribution")?;
    let refunded: Vec<DateTime<Utc>> = sqlx::query_scalar(
        "SELECT paid_at FROM metric_orders
         WHERE workspace_id = $1 AND refunded_at >= $2 AND refunded_at < $3 AND paid_at IS NOT NULL",
    )
    .bind(w.id)
    .bind(lo)
    .bind(hi)
    .fetch_all(&mut *conn)
    .await?;
    paid.extend(refunded);
    let mut days = order_days::days_of(w, &paid);
    days.extend(first.iter_days().take_while(|d| *d <= last));
    order_days::pack(conn, w, &days).await.context("order days")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_days_make_one_run() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        let days: BTreeSet<NaiveDate> =
            ["2026-02-27", "2026-02-28", "2026-03-01", "2026-03-03", "2026-12-31", "2027-01-01"].map(d).into();
        assert_eq!(
            runs(&days),
            vec![
                (d("2026-02-27"), d("2026-03-01")),
                (d("2026-03-03"), d("2026-03-03")),
                (d("2026-12-31"), d("2027-01-01"))
            ]
        );
        assert!(runs(&BTreeSet::new()).is_empty());
    }
}
