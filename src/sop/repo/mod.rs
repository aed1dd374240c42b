//! All SQL of SOP plans, steps and schedule rows (the sync of a plan's
//! rows with its targets is in `sync`).

mod sync;
pub use sync::*;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::types::Json;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use super::model::{Plan, PlanStatus, PlanTarget, QuietHours, Step};
use super::timing::TimingSpec;
use crate::ids::{CampaignId, ConnectionId, ContentId, GroupId, LayerId, PlanId, StepId, WorkspaceId};

#[derive(FromRow)]
struct Row {
    id: PlanId,
    name: String,
    status: PlanStatus,
    target_layer_id: Option<LayerId>,
    target_tier: Option<String>,
    group_ids: Vec<Uuid>,
    campaign_id: Option<CampaignId>,
    connection_id: Option<ConnectionId>,
    quiet_start: Option<String>,
    quiet_end: Option<String>,
    jitter_seconds: i32,
    starts_on: Option<NaiveDate>,
    ends_on: Option<NaiveDate>,
    steps: Json<Vec<StepRow>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(serde::Deserialize)]
struct StepRow {
    id: StepId,
    position: i32,
    content_id: ContentId,
    timing: TimingSpec,
}

impl From<Row> for Plan {
    fn from(r: Row) -> Self {
        let target = PlanTarget {
            layer_id: r.target_layer_id,
            tier: r.target_tier,
            group_ids: (!r.group_ids.is_empty()).then(|| r.group_ids.into_iter().map(GroupId).collect()),
        };
        let quiet_hours = match (r.quiet_start, r.quiet_end) {
            (Some(start), Some(end)) => Some(QuietHours { start, end }),
            _ => None,
        };
        Plan {
            id: r.id,
            name: r.name,
            status: r.status,
            target,
            campaign_id: r.campaign_id,
            connection_id: r.connection_id,
            quiet_hours,
            jitter_seconds: r.jitter_seconds,
            starts_on: r.starts_on,
            ends_on: r.ends_on,
            steps: r
                .steps
                .0
                .into_iter()
                .map(|s| Step { id: s.id, index: s.position, content_id: s.content_id, timing: s.timing })
                .collect(),
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

const SELECT: &str = "SELECT p.id, p.name, p.status, p.target_layer_id, p.target_tier, p.campaign_id, p.connection_id,
    p.quiet_start, p.quiet_end, p.jitter_seconds, p.starts_on, p.ends_on, p.created_at, p.updated_at,
    ARRAY(SELECT pg.group_id FROM sop_plan_groups pg WHERE pg.workspace_id = p.workspace_id AND pg.plan_id = p.id
          ORDER BY pg.group_id) AS group_ids,
    coalesce((SELECT jsonb_agg(jsonb_build_object('id', s.id, 'position', s.position, 'content_id', s.content_id,
                                                  'timing', s.timing) ORDER BY s.position)
              FROM sop_steps s WHERE s.workspace_id = p.workspace_id AND s.plan_id = p.id), '[]') AS steps
    FROM sop_plans p";

/// Plans, newest first.
pub async fn list(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    status: Option<PlanStatus>,
    campaign: Option<CampaignId>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Plan>, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "{SELECT} WHERE p.workspace_id = $1 AND ($2::uuid IS NULL OR p.id < $2)
           AND ($3::text IS NULL OR p.status = $3) AND ($4::uuid IS NULL OR p.campaign_id = $4)
         ORDER BY p.id DESC LIMIT $5"
    ))
    .bind(ws)
    .bind(after)
    .bind(status)
    .bind(campaign)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(Plan::from).collect())
}

/// One plan (row-locked when `for_update`).
pub async fn get(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    id: PlanId,
    for_update: bool,
) -> Result<Option<Plan>, sqlx::Error> {
    // NO KEY UPDATE: the scheduler's delivery inserts take KEY SHARE on the plan
    // (foreign key) while holding schedule rows a plan edit deletes.
    let lock = if for_update { " FOR NO KEY UPDATE OF p" } else { "" };
    let row: Option<Row> = sqlx::query_as(&format!("{SELECT} WHERE p.workspace_id = $1 AND p.id = $2{lock}"))
        .bind(ws)
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(Plan::from))
}

/// Inserts (when `anchor_from` is given: a new plan) or updates a plan's own
/// columns and explicit groups. A change restarts its schedule from
/// `effective_from` (future slots only).
pub async fn upsert(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    p: &Plan,
    effective_from: DateTime<Utc>,
    anchor_from: Option<DateTime<Utc>>,
) -> Result<(), sqlx::Error> {
    let (qs, qe) = p.quiet_hours.as_ref().map(|q| (Some(&q.start), Some(&q.end))).unwrap_or((None, None));
    // A plain UPDATE for an existing plan: INSERT .. ON CONFLICT DO UPDATE
    // would lock the row FOR UPDATE, which conflicts with the scheduler's
    // foreign-key KEY SHARE locks and deadlocks with its claims.
    let sql = match anchor_from {
        Some(_) => {
            "INSERT INTO sop_plans (workspace_id, id, name, status, target_layer_id, target_tier, campaign_id, connection_id,
                 quiet_start, quiet_end, jitter_seconds, starts_on, ends_on, effective_from, anchor_from)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, coalesce($15, $14))"
        }
        None => {
            "UPDATE sop_plans SET name = $3, status = $4, target_layer_id = $5, target_tier = $6, campaign_id = $7,
                 connection_id = $8, quiet_start = $9, quiet_end = $10, jitter_seconds = $11, starts_on = $12,
                 ends_on = $13, effective_from = $14, anchor_from = coalesce($15, anchor_from), synced_at = NULL,
                 updated_at = now()
             WHERE workspace_id = $1 AND id = $2"
        }
    };
    sqlx::query(sql)
        .bind(ws)
        .bind(p.id)
        .bind(&p.name)
        .bind(p.status)
        .bind(p.target.layer_id)
        .bind(&p.target.tier)
        .bind(p.campaign_id)
        .bind(p.connection_id)
        .bind(qs)
        .bind(qe)
        .bind(p.jitter_seconds)
        .bind(p.starts_on)
        .bind(p.ends_on)
        .bind(effective_from)
        .bind(anchor_from)
        .execute(&mut *conn)
        .await?;
    let groups: Vec<Uuid> = p.target.group_ids.iter().flatten().map(|g| g.0).collect();
    sqlx::query("DELETE FROM sop_plan_groups WHERE workspace_id = $1 AND plan_id = $2")
        .bind(ws)
        .bind(p.id)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO sop_plan_groups (workspace_id, plan_id, group_id) SELECT $1, $2, u FROM unnest($3::uuid[]) u
         ON CONFLICT DO NOTHING",
    )
    .bind(ws)
    .bind(p.id)
    .bind(&groups)
    .execute(&mut *conn)
    .await?;
    // Future slots only: the schedules are rebuilt by the next sync.
    sqlx::query("DELETE FROM sop_schedules WHERE workspace_id = $1 AND plan_id = $2")
        .bind(ws)
        .bind(p.id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Replaces the steps; a step equal to an old one (same content and timing) keeps its id.
pub async fn replace_steps(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    plan: PlanId,
    old: &[Step],
    new: &[(ContentId, TimingSpec)],
) -> Result<(), sqlx::Error> {
    let mut unused: Vec<&Step> = old.iter().collect();
    let mut ids = Vec::with_capacity(new.len());
    for (content, timing) in new {
        let id = match unused.iter().position(|s| s.content_id == *content && s.timing == *timing) {
            Some(i) => unused.remove(i).id,
            None => StepId::new(),
        };
        ids.push(id.0);
    }
    let keep: Vec<Uuid> = ids.clone();
    sqlx::query("DELETE FROM sop_steps WHERE workspace_id = $1 AND plan_id = $2 AND NOT (id = ANY($3))")
        .bind(ws)
        .bind(plan)
        .bind(&keep)
        .execute(&mut *conn)
        .await?;
    // Park kept steps on negative positions so the new order never collides.
    sqlx::query("UPDATE sop_steps SET position = -1 - position WHERE workspace_id = $1 AND plan_id = $2")
        .bind(ws)
        .bind(plan)
        .execute(&mut *conn)
        .await?;
    let contents: Vec<Uuid> = new.iter().map(|(c, _)| c.0).collect();
    let timings: Vec<Json<&TimingSpec>> = new.iter().map(|(_, t)| Json(t)).collect();
    let positions: Vec<i32> = (0..new.len() as i32).collect();
    sqlx::query(
        "INSERT INTO sop_steps (workspace_id, id, plan_id, position, content_id, timing)
         SELECT $1, u.id, $2, u.pos, u.content, u.timing FROM unnest($3::uuid[], $4::int[], $5::uuid[], $6::jsonb[])
             AS u(id, pos, content, timing)
         ON CONFLICT (workspace_id, id) DO UPDATE SET position = EXCLUDED.position",
    )
    .bind(ws)
    .bind(plan)
    .bind(&ids)
    .bind(&positions)
    .bind(&contents)
    .bind(&timings)
    .execute(conn)
    .await?;
    Ok(())
}

/// Sets a plan's status; leaving `paused` for `active` restarts its schedule from `now`.
pub async fn set_status(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    id: PlanId,
    status: PlanStatus,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE sop_plans SET status = $3, effective_from = $4, anchor_from = CASE WHEN $3 = 'active' THEN $4 ELSE anchor_from END,
             synced_at = NULL, updated_at = now()
         WHERE workspace_id = $1 AND id = $2",
    )
    .bind(ws)
    .bind(id)
    .bind(status)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM sop_schedules WHERE workspace_id = $1 AND plan_id = $2")
        .bind(ws)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Whether any delivery of the plan exists.
pub async fn has_deliveries(conn: &mut PgConnection, ws: WorkspaceId, id: PlanId) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM deliveries WHERE workspace_id = $1 AND plan_id = $2)")
        .bind(ws)
        .bind(id)
        .fetch_one(conn)
        .await
}

/// Deletes a plan; `false` when missing.
pub async fn delete(conn: &mut PgConnection, ws: WorkspaceId, id: PlanId) -> Result<bool, sqlx::Error> {
    let r = sqlx::query("DELETE FROM sop_plans WHERE workspace_id = $1 AND id = $2")
        .bind(ws)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// One schedule row's next slot after a scheduler pass (`None`: finished).
#[derive(Debug, Clone, Copy)]
pub struct Advance {
    /// (step, group, member; nil for a group-wide step).
    pub key: (Uuid, Uuid, Uuid),
    pub next_slot: Option<DateTime<Utc>>,
    pub next_fire: Option<DateTime<Utc>>,
}

/// Moves schedule rows on to their next slots, in one statement.
pub async fn advance_schedules(conn: &mut PgConnection, ws: WorkspaceId, rows: &[Advance]) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE sop_schedules s SET next_slot_at = u.slot, next_fire_at = u.fire
         FROM unnest($2::uuid[], $3::uuid[], $4::uuid[], $5::timestamptz[], $6::timestamptz[]) AS u(st, g, m, slot, fire)
         WHERE s.workspace_id = $1 AND s.step_id = u.st AND s.group_id = u.g AND s.member_id = u.m",
    )
    .bind(ws)
    .bind(rows.iter().map(|r| r.key.0).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.key.1).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.key.2).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.next_slot).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.next_fire).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

/// A schedule row whose slot is due.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Due {
    pub workspace_id: WorkspaceId,
    pub step_id: Uuid,
    pub group_id: Uuid,
    pub member_id: Uuid,
    pub plan_id: PlanId,
    pub next_slot_at: DateTime<Utc>,
    pub next_fire_at: DateTime<Utc>,
}

/// Claims up to `limit` schedule rows due at `now` (row locks, skipping
/// rows another scheduler holds) of active plans and active groups.
pub async fn claim_due(conn: &mut PgConnection, now: DateTime<Utc>, limit: i64) -> Result<Vec<Due>, sqlx::Error> {
    sqlx::query_as(
        "SELECT s.workspace_id, s.step_id, s.group_id, s.member_id, s.plan_id, s.next_slot_at, s.next_fire_at
         FROM sop_schedules s
         WHERE s.next_fire_at <= $1 AND EXISTS (SELECT 1 FROM sop_plans p
               WHERE p.workspace_id = s.workspace_id AND p.id = s.plan_id AND p.status = 'active')
           -- A group archived or dismissed since the last sync is not sent to (the sync drops its rows).
           AND EXISTS (SELECT 1 FROM groups g WHERE g.workspace_id = s.workspace_id AND g.id = s.group_id
                       AND g.status = 'active')
         ORDER BY s.next_fire_at LIMIT $2 FOR UPDATE OF s SKIP LOCKED",
    )
    // Planned per call, never cached: this polls every tick from start-up,
    // and a plan cached while the tables were empty (nested seq scans) took
    // ~2 s per 1,000 rows once a plan had scheduled 10,000 groups.
    .persistent(false)
    .bind(now)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// The next fire time after `now` of any schedule row.
pub async fn next_fire_after(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar("SELECT min(next_fire_at) FROM sop_schedules WHERE next_fire_at > $1")
        .bind(now)
        .fetch_one(conn)
        .await
}

/// Claims up to `limit` active plans not synced since `before`, with their
/// effective and anchor times.
pub async fn claim_stale(
    conn: &mut PgConnection,
    before: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<(WorkspaceId, PlanId, DateTime<Utc>, DateTime<Utc>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT workspace_id, id, effective_from, anchor_from FROM sop_plans
         WHERE status = 'active' AND (synced_at IS NULL OR synced_at < $1)
         ORDER BY synced_at NULLS FIRST LIMIT $2 FOR NO KEY UPDATE SKIP LOCKED",
    )
    .persistent(false) // a polling claim: planned for the table as it is now
    .bind(before)
    .bind(limit)
    .fetch_all(conn)
    .await
}
