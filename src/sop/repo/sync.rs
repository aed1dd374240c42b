//! The SQL of syncing a plan's schedule rows with its targets and joins.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::ids::{GroupId, PlanId, StepId, WorkspaceId};

/// A schedule row to add: one step for one group (member nil) or one
/// member of a group (member-relative steps).
#[derive(Debug, Clone)]
pub struct NewSchedule {
    pub step_id: Uuid,
    pub group_id: Uuid,
    pub member_id: Uuid,
    pub anchor_at: Option<DateTime<Utc>>,
    pub next_slot_at: Option<DateTime<Utc>>,
    pub next_fire_at: Option<DateTime<Utc>>,
}

/// Deletes the plan's rows of groups it no longer targets.
pub async fn drop_untargeted(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    plan: PlanId,
    targeted: &[GroupId],
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM sop_schedules WHERE workspace_id = $1 AND plan_id = $2 AND NOT (group_id = ANY($3))")
        .bind(ws)
        .bind(plan)
        .bind(targeted)
        .execute(conn)
        .await?;
    Ok(())
}

/// The (step, group) pairs of the plan's group rows (member nil).
pub async fn group_rows(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    plan: PlanId,
) -> Result<Vec<(Uuid, Uuid)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT step_id, group_id FROM sop_schedules WHERE workspace_id = $1 AND plan_id = $2 AND member_id = $3",
    )
    .bind(ws)
    .bind(plan)
    .bind(Uuid::nil())
    .fetch_all(conn)
    .await
}

/// Adds rows (one already there is kept as it is).
pub async fn insert_rows(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    plan: PlanId,
    rows: &[NewSchedule],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO sop_schedules (workspace_id, step_id, group_id, member_id, plan_id, anchor_at, next_slot_at, next_fire_at)
         SELECT $1, u.s, u.g, u.m, $2, u.a, u.slot, u.fire
         FROM unnest($3::uuid[], $4::uuid[], $5::uuid[], $6::timestamptz[], $7::timestamptz[], $8::timestamptz[])
             AS u(s, g, m, a, slot, fire)
         ON CONFLICT DO NOTHING",
    )
    .bind(ws)
    .bind(plan)
    .bind(rows.iter().map(|r| r.step_id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.group_id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.member_id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.anchor_at).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.next_slot_at).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.next_fire_at).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

/// Records when the plan's rows were last brought in line.
pub async fn mark_synced(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    plan: PlanId,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE sop_plans SET synced_at = $3 WHERE workspace_id = $1 AND id = $2")
        .bind(ws)
        .bind(plan)
        .bind(at)
        .execute(conn)
        .await?;
    Ok(())
}

/// The first join since `since` of each counted member (not staff, not a
/// bot) of these groups who has no row of `step` yet: (group, member,
/// joined at). Reads memberships and members in the one statement that
/// compares them with the schedule rows.
pub async fn joins_without_row(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    groups: &[GroupId],
    since: DateTime<Utc>,
    step: StepId,
) -> Result<Vec<(Uuid, Uuid, DateTime<Utc>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT ms.group_id, ms.member_id, min(ms.joined_at)
         FROM memberships ms JOIN members m ON m.workspace_id = ms.workspace_id AND m.id = ms.member_id
         WHERE ms.workspace_id = $1 AND ms.group_id = ANY($2) AND ms.joined_at >= $3 AND NOT m.is_staff AND NOT m.is_bot
           AND NOT EXISTS (SELECT 1 FROM sop_schedules s WHERE s.workspace_id = $1 AND s.step_id = $4
                           AND s.group_id = ms.group_id AND s.member_id = ms.member_id)
         GROUP BY ms.group_id, ms.member_id",
    )
    .bind(ws)
    .bind(groups)
    .bind(since)
    .bind(step)
    .fetch_all(conn)
    .await
}

/// When the plan's member-relative steps start counting joins.
pub async fn anchor_from(conn: &mut PgConnection, ws: WorkspaceId, plan: PlanId) -> Result<DateTime<Utc>, sqlx::Error> {
    sqlx::query_scalar("SELECT anchor_from FROM sop_plans WHERE workspace_id = $1 AND id = $2")
        .bind(ws)
        .bind(plan)
        .fetch_one(conn)
        .await
}
