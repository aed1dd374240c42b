//! All SQL of earning rules and what they gave.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::model::{PointsRule, PointsRuleInput, RuleStatus, Trigger};
use crate::ids::{MemberId, WorkspaceId};

const COLUMNS: &str = "id, name, trigger, event_type, points, points_per_unit, unit, daily_cap, tiers, group_ids,
    starts_at, ends_at, status, created_at, updated_at";

/// The workspace's rules, newest first.
pub async fn list(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<PointsRule>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM points_rules WHERE workspace_id = $1 AND ($2::uuid IS NULL OR id < $2)
         ORDER BY id DESC LIMIT $3"
    ))
    .bind(ws)
    .bind(after)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// The active rules in force at some time in `lo..=hi`, oldest first.
pub async fn in_force(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    lo: DateTime<Utc>,
    hi: DateTime<Utc>,
) -> Result<Vec<PointsRule>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM points_rules WHERE workspace_id = $1 AND status = 'active'
           AND (starts_at IS NULL OR starts_at <= $3) AND (ends_at IS NULL OR ends_at > $2) ORDER BY id"
    ))
    .bind(ws)
    .bind(lo)
    .bind(hi)
    .fetch_all(conn)
    .await
}

/// One rule.
pub async fn get(conn: &mut PgConnection, ws: WorkspaceId, id: Uuid) -> Result<Option<PointsRule>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM points_rules WHERE workspace_id = $1 AND id = $2"))
        .bind(ws)
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// Inserts (`existing` None) or replaces a rule; returns it (None: no such rule).
pub async fn save(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    id: Uuid,
    r: &PointsRuleInput,
    replace: bool,
) -> Result<Option<PointsRule>, sqlx::Error> {
    let (name, scope) = r.parts();
    let (trigger, event_type, points, per_unit, unit, cap) = match r {
        PointsRuleInput::OrderPaid { points_per_unit, unit, .. } => {
            (Trigger::OrderPaid, None, None, Some(*points_per_unit), Some(*unit), None)
        }
        PointsRuleInput::Event { event_type, points, daily_cap, .. } => {
            (Trigger::Event, Some(event_type.clone()), Some(*points), None, None, *daily_cap)
        }
    };
    let groups: Option<Vec<Uuid>> = scope.group_ids.as_ref().map(|g| g.iter().map(|g| g.0).collect());
    let sql = if replace {
        format!(
            "UPDATE points_rules SET name = $3, trigger = $4, event_type = $5, points = $6, points_per_unit = $7,
                 unit = $8, daily_cap = $9, tiers = $10, group_ids = $11, starts_at = $12, ends_at = $13,
                 status = $14, updated_at = now()
             WHERE workspace_id = $1 AND id = $2 RETURNING {COLUMNS}"
        )
    } else {
        format!(
            "INSERT INTO points_rules (workspace_id, id, name, trigger, event_type, points, points_per_unit, unit,
                 daily_cap, tiers, group_ids, starts_at, ends_at, status)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING {COLUMNS}"
        )
    };
    sqlx::query_as(&sql)
        .bind(ws)
        .bind(id)
        .bind(name.trim())
        .bind(trigger)
        .bind(event_type)
        .bind(points)
        .bind(per_unit)
        .bind(unit)
        .bind(cap)
        .bind(&scope.tiers)
        .bind(groups)
        .bind(scope.starts_at)
        .bind(scope.ends_at)
        .bind(scope.status.unwrap_or(RuleStatus::Active))
        .fetch_optional(conn)
        .await
}

/// Deletes a rule; `false` when missing.
pub async fn delete(conn: &mut PgConnection, ws: WorkspaceId, id: Uuid) -> Result<bool, sqlx::Error> {
    let r = sqlx::query("DELETE FROM points_rules WHERE workspace_id = $1 AND id = $2")
        .bind(ws)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Adds what a rule gives a member on a local day, within its cap (under the
/// member's account lock); returns the points it may give now.
pub async fn use_daily_cap(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    rule: Uuid,
    member: MemberId,
    day: NaiveDate,
    points: i64,
    cap: i64,
) -> Result<i64, sqlx::Error> {
    let used: Option<i64> = sqlx::query_scalar(
        "SELECT points FROM points_rule_days WHERE workspace_id = $1 AND rule_id = $2 AND member_id = $3 AND day = $4",
    )
    .bind(ws)
    .bind(rule)
    .bind(member)
    .bind(day)
    .fetch_optional(&mut *conn)
    .await?;
    let give = points.min(cap - used.unwrap_or(0)).max(0);
    if give > 0 {
        sqlx::query(
            "INSERT INTO points_rule_days (workspace_id, rule_id, member_id, day, points) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (workspace_id, rule_id, member_id, day) DO UPDATE SET points = points_rule_days.points + $5",
        )
        .bind(ws)
        .bind(rule)
        .bind(member)
        .bind(day)
        .bind(give)
        .execute(conn)
        .await?;
    }
    Ok(give)
}

/// Records what a paid order earned.
pub async fn record_order_grant(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    order: &str,
    member: MemberId,
    amount: i64,
    points: i64,
    entry: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO points_order_grants (workspace_id, order_id, member_id, amount, points, entry_id)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (workspace_id, order_id) DO NOTHING",
    )
    .bind(ws)
    .bind(order)
    .bind(member)
    .bind(amount)
    .bind(points)
    .bind(entry)
    .execute(conn)
    .await?;
    Ok(())
}

/// A paid order's grant, locked: `(member, amount, points, clawed_back, lot)`.
pub async fn order_grant_for_update(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    order: &str,
) -> Result<Option<(MemberId, i64, i64, i64, Uuid)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT member_id, amount, points, clawed_back, entry_id FROM points_order_grants
         WHERE workspace_id = $1 AND order_id = $2 FOR UPDATE",
    )
    .bind(ws)
    .bind(order)
    .fetch_optional(conn)
    .await
}

/// Counts points taken back from an order's grant.
pub async fn add_clawed_back(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    order: &str,
    points: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE points_order_grants SET clawed_back = clawed_back + $3 WHERE workspace_id = $1 AND order_id = $2",
    )
    .bind(ws)
    .bind(order)
    .bind(points)
    .execute(conn)
    .await?;
    Ok(())
}
