//! The rollup worker: keeps `metric_member_days`, the day sets derived from
//! them (`metric_group_days`, `metric_days`, `metric_type_days`, numbered by
//! `metric_member_index`, see `sets`), the funnel timelines
//! (`metric_member_chunks`, see `chunks` and `timelines`), `metric_orders`
//! (with each order's last-click campaign under the default attribution
//! window, and packed per payment day: `order_days`) and
//! `metric_campaign_clicks` equal to what the raw events say, and the packed
//! stints per group (`metric_group_stints`, see `stints`) equal to
//! `memberships`.
//!
//! The subscriber in `reaction` queues the new events by local day in
//! `metric_dirty_days` (their ids and instants) and the groups whose stints
//! they touched in `metric_dirty_stints`, in the storing transaction, so a
//! committed event always has its queue row. A pass takes a try-lock (one
//! roller at a time across instances) and reads the queue in a REPEATABLE
//! READ snapshot. Rows naming events are merged (`incremental`: the cost
//! follows the new events, not the size of their days) and deleted by id in
//! the same transaction, so each event is merged exactly once. A row without
//! events asks for its day to be recomputed whole from the raw events (the
//! repair path), a row without a day for the whole workspace (a new
//! timezone or active set): then every day of the workspace the snapshot
//! has queue rows for is recomputed whole (delete, then aggregate) and all
//! those rows go — an event committed after the snapshot keeps its row for
//! the next pass, and nothing is ever counted from a partial view. Orders
//! and clicks are merged with order-independent rules (first refund wins).

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::events::model::TYPES;
use crate::ids::WorkspaceId;
use crate::metrics::period::{day_bounds, local_day};
use crate::metrics::store::{chunks, incremental, order_days};
use crate::workspaces::model::Workspace;

/// Advisory lock key of the rollup worker ("shequn-r").
const LOCK_KEY: i64 = 0x7368_6571_756e_2d72;

/// Rollup tables keyed by local day (recomputed day by day).
pub const DAY_TABLES: [&str; 4] = ["metric_member_days", "metric_group_days", "metric_days", "metric_type_days"];

/// Rollup tables keyed otherwise (merged, emptied only by a rebuild; the
/// timelines' chunks are rebuilt by month, see `chunks::rebuild`).
pub const OTHER_TABLES: [&str; 4] =
    ["metric_orders", "metric_campaign_clicks", "metric_member_chunks", "metric_order_days"];

/// Most queue rows one pass reads.
const BATCH: i64 = 5000;

/// Most new events one pass merges (it always takes at least one queue row),
/// which bounds its memory and its transaction.
const MAX_EVENTS: i64 = 250_000;

/// Queues newly stored events for merging: one row per local day
/// (workspace timezone) with that day's events packed
/// ([`incremental::pack`]). The workspace row is share-locked, so a timezone
/// change (which queues a full rebuild) waits for batches numbering days the
/// old way.
pub async fn mark_dirty(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    events: &[incremental::NewEvent],
) -> Result<(), sqlx::Error> {
    if events.is_empty() {
        return Ok(());
    }
    let tz = crate::workspaces::repo::timezone_for_share(conn, ws).await?;
    let Some(tz) = tz else { return Ok(()) };
    let zone = crate::clock::zone(&tz);
    let mut by_day: BTreeMap<NaiveDate, Vec<incremental::NewEvent>> = BTreeMap::new();
    for e in events {
        by_day.entry(local_day(zone, e.occurred_at)).or_default().push(e.clone());
    }
    let mut days = Vec::with_capacity(by_day.len());
    let mut packed = Vec::with_capacity(by_day.len());
    let mut counts = Vec::with_capacity(by_day.len());
    for (day, events) in by_day {
        days.push(day);
        counts.push(events.len() as i32);
        packed.push(incremental::pack(&events));
    }
    sqlx::query(
        "INSERT INTO metric_dirty_days (workspace_id, day, events, n)
         SELECT $1, * FROM unnest($2::date[], $3::bytea[], $4::int4[])",
    )
    .bind(ws)
    .bind(&days)
    .bind(&packed)
    .bind(&counts)
    .execute(conn)
    .await?;
    Ok(())
}

/// Queues local days of a workspace to be recomputed whole from the raw
/// events (the repair path: `shequn rollup rebuild`).
pub async fn mark_days_whole(conn: &mut PgConnection, ws: WorkspaceId, days: &[NaiveDate]) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO metric_dirty_days (workspace_id, day) SELECT $1, d FROM unnest($2::date[]) AS d")
        .bind(ws)
        .bind(days)
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

/// Recomputes the local days `from..=to` of a workspace (by name; `None`:
/// every workspace) whole from the raw events: queues them, then runs passes
/// until they are done — waiting while another instance (a running server's
/// worker) holds the roller's lock, which does the same work. Returns how
/// many workspaces it queued days for.
pub async fn rebuild_days(
    pool: &PgPool,
    workspace: Option<&str>,
    from: NaiveDate,
    to: NaiveDate,
) -> anyhow::Result<usize> {
    let mut conn = pool.acquire().await?;
    let ids: Vec<Uuid> = match workspace {
        Some(name) => {
            let w = crate::workspaces::repo::by_name(&mut conn, name)
                .await?
                .with_context(|| format!("no workspace named `{name}`"))?;
            vec![w.id.0]
        }
        None => sqlx::query_scalar("SELECT id FROM workspaces ORDER BY id").fetch_all(&mut *conn).await?,
    };
    let days: Vec<NaiveDate> = from.iter_days().take_while(|d| *d <= to).collect();
    for ws in &ids {
        mark_days_whole(&mut conn, WorkspaceId(*ws), &days).await?;
    }
    let last: Option<i64> = sqlx::query_scalar("SELECT max(id) FROM metric_dirty_days").fetch_one(&mut *conn).await?;
    drop(conn);
    loop {
        let p = run_once(pool).await?;
        // Done once no row queued up to ours is left (later ones are new events).
        let left: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM metric_dirty_days WHERE id <= $1)")
            .bind(last)
            .fetch_one(pool)
            .await?;
        if !left {
            return Ok(ids.len());
        }
        if !p.ran {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }
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
    /// New events merged.
    pub merged: usize,
    /// The pass left queue rows it could have read for the next one.
    pub more: bool,
    /// What was recomputed whole: (workspace, local day), the day `None` for a full rebuild.
    pub recomputed: BTreeSet<(Uuid, Option<NaiveDate>)>,
}

impl Pass {
    /// Days recomputed whole (a full rebuild counts as one).
    pub fn days(&self) -> usize {
        self.recomputed.len()
    }
}

/// One pass over the queue (its work chosen from at most [`BATCH`] rows and
/// [`MAX_EVENTS`] new events), retried on a serialization failure. Returns
/// what it did.
pub async fn run_once(pool: &PgPool) -> anyhow::Result<Pass> {
    run_once_reading(pool, BATCH).await
}

/// [`run_once`] reading at most `batch` queue rows.
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

/// Runs passes until the queue is empty (or another instance holds the
/// lock). Returns the queue rows handled.
pub async fn drain(pool: &PgPool) -> anyhow::Result<usize> {
    let mut rows = 0;
    loop {
        let p = run_once(pool).await?;
        rows += p.queued;
        if !p.ran || p.queued == 0 {
            return Ok(rows);
        }
    }
}

/// What a pass does for one workspace.
enum Work {
    /// Every day from the raw events.
    Rebuild,
    /// Every day the snapshot has queue rows for, whole.
    Whole,
    /// The events named by these queue rows.
    Merge(Vec<i64>),
}

async fn pass(pool: &PgPool, batch: i64) -> anyhow::Result<Pass> {
    let mut tx = crate::db::begin(pool).await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ").execute(&mut *tx).await?;
    let out = pass_in(&mut tx, batch).await?;
    // The connection's buffers grew to the pass's largest message (megabytes
    // of queued events and of the writes' arrays) and would stay that size in
    // the pool: one pass after another on different connections took the
    // server from 190 to 340 MB.
    sqlx::Connection::shrink_buffers(&mut *tx);
    tx.commit().await?;
    Ok(out)
}

/// One pass inside the caller's transaction (REPEATABLE READ, as [`run_once`]
/// opens it), which commits it — or, in the tests' comparison with a full
/// recompute, rolls it back.
pub async fn pass_in(tx: &mut PgConnection, batch: i64) -> anyhow::Result<Pass> {
    let locked: bool =
        sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)").bind(LOCK_KEY).fetch_one(&mut *tx).await?;
    if !locked {
        return Ok(Pass::default());
    }
    let rows: Vec<(i64, Uuid, Option<NaiveDate>, i32, bool)> =
        sqlx::query_as("SELECT id, workspace_id, day, n, events IS NULL FROM metric_dirty_days ORDER BY id LIMIT $1")
            .bind(batch)
            .fetch_all(&mut *tx)
            .await?;
    let mut more = rows.len() as i64 >= batch;
    let mut work: BTreeMap<Uuid, Work> = BTreeMap::new();
    let mut budget = 0i64;
    for (id, ws, day, n, whole) in rows {
        if budget > 0 && budget + i64::from(n) > MAX_EVENTS {
            more = true;
            break;
        }
        budget += i64::from(n);
        let entry = work.entry(ws).or_insert_with(|| Work::Merge(Vec::new()));
        match (day, whole, &mut *entry) {
            (None, ..) => *entry = Work::Rebuild,
            (Some(_), true, Work::Merge(_)) => *entry = Work::Whole,
            (Some(_), false, Work::Merge(ids)) => ids.push(id),
            _ => {}
        }
    }
    let mut out = Pass { ran: true, more, ..Pass::default() };
    out.queued += pack_dirty_stints(&mut *tx).await.context("group stints")?;
    for (ws, todo) in work {
        let ws = WorkspaceId(ws);
        let Some(w) = crate::workspaces::repo::get(&mut *tx, ws).await? else {
            // The workspace is gone: drop its queue rows.
            out.queued += delete_queued(&mut *tx, ws, None).await? as usize;
            continue;
        };
        match todo {
            Work::Rebuild => {
                rebuild(&mut *tx, &w).await.context("full rollup rebuild")?;
                out.recomputed.insert((ws.0, None));
                // Every event of the workspace in this snapshot is rolled up.
                out.queued += delete_queued(&mut *tx, ws, None).await? as usize;
            }
            Work::Whole => {
                // Every day with a queue row in this snapshot, so that no row
                // of a day recomputed here (or of a month whose timelines are)
                // is merged again by a later pass.
                let days: BTreeSet<NaiveDate> = sqlx::query_scalar(
                    "SELECT DISTINCT day FROM metric_dirty_days WHERE workspace_id = $1 AND day IS NOT NULL",
                )
                .bind(ws)
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .collect();
                for (first, last) in runs(&days) {
                    recompute_days(&mut *tx, &w, first, last)
                        .await
                        .with_context(|| format!("rollup of {first}..={last}"))?;
                }
                let months: BTreeSet<NaiveDate> = days.iter().map(|d| chunks::month_of(*d)).collect();
                let months: Vec<NaiveDate> = months.into_iter().collect();
                chunks::rebuild(&mut *tx, &w, &months, false).await.context("timelines")?;
                out.recomputed.extend(days.iter().map(|d| (ws.0, Some(*d))));
                let days: Vec<NaiveDate> = days.into_iter().collect();
                out.queued += delete_queued(&mut *tx, ws, Some(&days)).await? as usize;
            }
            Work::Merge(ids) => {
                let mut merge = incremental::Merge::new(&w);
                fold_queued(&mut *tx, ws, &ids, &mut merge).await?;
                let merged = merge.events;
                merge.write(&mut *tx).await.context("incremental rollup")?;
                sqlx::query("DELETE FROM metric_dirty_days WHERE workspace_id = $1 AND id = ANY($2)")
                    .bind(ws)
                    .bind(&ids)
                    .execute(&mut *tx)
                    .await?;
                out.queued += ids.len();
                out.merged += merged;
            }
        }
    }
    Ok(out)
}

/// Adds the events held by these queue rows of a workspace to `merge`, one
/// row at a time as they arrive.
async fn fold_queued(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    ids: &[i64],
    merge: &mut incremental::Merge<'_>,
) -> anyhow::Result<()> {
    use futures_util::TryStreamExt;
    let mut rows = sqlx::query_as::<_, (i64, Vec<u8>)>(
        "SELECT id, events FROM metric_dirty_days WHERE workspace_id = $1 AND id = ANY($2)",
    )
    .bind(ws)
    .bind(ids)
    .fetch(conn);
    while let Some((id, data)) = rows.try_next().await? {
        merge.add(incremental::unpack(&data).with_context(|| format!("malformed rollup queue row {id}"))?);
    }
    Ok(())
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
pub(crate) async fn fill_excluded(conn: &mut PgConnection, ws: WorkspaceId) -> Result<(), sqlx::Error> {
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

/// Recomputes every rollup of a workspace from the raw events, in the
/// caller's transaction (what a full rebuild pass does; the tests' oracle).
pub async fn rebuild_workspace(conn: &mut PgConnection, ws: WorkspaceId) -> anyhow::Result<()> {
    match crate::workspaces::repo::get(&mut *conn, ws).await? {
        Some(w) => rebuild(conn, &w).await,
        None => Ok(()),
    }
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
    let (Some(first), Some(last)) = span else {
        return chunks::rebuild(conn, w, &[], true).await;
    };
    let zone = crate::clock::zone(&w.timezone);
    let (first, last) = (local_day(zone, first), local_day(zone, last));
    aggregate(conn, w, first, last).await?;
    let months: Vec<NaiveDate> = first
        .iter_days()
        .take_while(|d| *d <= last)
        .map(chunks::month_of)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    chunks::rebuild(conn, w, &months, true).await.context("timelines")
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

/// Rolls up the events of the local days `first..=last` (whose member-day
/// rows were deleted); the caller rebuilds their months' timelines.
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
        .bind(&TYPES[..])
        .execute(&mut *conn)
        .await
        .context("member days")?;
    number_members(conn, w, first, last).await.context("member index")?;
    for statement in include_str!("sql/day_sets.sql").split("\n--\n") {
        on_days(&mut *conn, w, first, last, statement).await.context("day sets")?;
    }
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
