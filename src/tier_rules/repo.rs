//! All SQL of tier rules: the rule set and the grace state (the figures
//! come from the features that own them: the metric rollups, the ledger).

use std::collections::HashMap;

use chrono::NaiveDate;
use sqlx::types::Json;
use sqlx::PgConnection;

use super::model::{TierRule, TierRules};
use crate::ids::{MemberId, WorkspaceId};

/// A rule set row: rules, default tier, grace, lock, enabled, day evaluated.
type SetRow = (Json<Vec<TierRule>>, Option<String>, i32, i32, bool, Option<NaiveDate>);

/// The workspace's rule set and the last day evaluated.
pub async fn get(
    conn: &mut PgConnection,
    ws: WorkspaceId,
) -> Result<Option<(TierRules, Option<NaiveDate>)>, sqlx::Error> {
    let r: Option<SetRow> = sqlx::query_as(
        "SELECT rules, default_tier, downgrade_grace_days, manual_lock_days, enabled, evaluated_day
         FROM tier_rule_sets WHERE workspace_id = $1",
    )
    .bind(ws)
    .fetch_optional(conn)
    .await?;
    Ok(r.map(|(rules, default_tier, grace, lock, enabled, day)| {
        let cfg = TierRules {
            rules: rules.0,
            default_tier,
            downgrade_grace_days: grace.max(0) as u32,
            manual_lock_days: lock.max(0) as u32,
            enabled,
        };
        (cfg, day)
    }))
}

/// Replaces the rule set.
pub async fn put(conn: &mut PgConnection, ws: WorkspaceId, cfg: &TierRules) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO tier_rule_sets (workspace_id, rules, default_tier, downgrade_grace_days, manual_lock_days, enabled)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (workspace_id) DO UPDATE SET rules = $2, default_tier = $3, downgrade_grace_days = $4,
             manual_lock_days = $5, enabled = $6, updated_at = now()",
    )
    .bind(ws)
    .bind(Json(&cfg.rules))
    .bind(&cfg.default_tier)
    .bind(cfg.downgrade_grace_days as i32)
    .bind(cfg.manual_lock_days as i32)
    .bind(cfg.enabled)
    .execute(conn)
    .await?;
    Ok(())
}

/// Claims local day `day` for the nightly evaluation: `true` once per day,
/// whatever number of instances ask (a guarded update).
pub async fn claim_day(conn: &mut PgConnection, ws: WorkspaceId, day: NaiveDate) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE tier_rule_sets SET evaluated_day = $2
         WHERE workspace_id = $1 AND enabled AND (evaluated_day IS NULL OR evaluated_day < $2)",
    )
    .bind(ws)
    .bind(day)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Workspaces with an enabled rule set, with their timezone.
pub async fn enabled_workspaces(conn: &mut PgConnection) -> Result<Vec<(WorkspaceId, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT s.workspace_id, w.timezone FROM tier_rule_sets s JOIN workspaces w ON w.id = s.workspace_id
         WHERE s.enabled ORDER BY s.workspace_id",
    )
    .fetch_all(conn)
    .await
}

/// When each member in grace fell below their tier.
pub async fn grace(conn: &mut PgConnection, ws: WorkspaceId) -> Result<HashMap<MemberId, NaiveDate>, sqlx::Error> {
    let rows: Vec<(MemberId, NaiveDate)> =
        sqlx::query_as("SELECT member_id, below_since FROM tier_rule_grace WHERE workspace_id = $1")
            .bind(ws)
            .fetch_all(conn)
            .await?;
    Ok(rows.into_iter().collect())
}

/// Starts the grace of members below their tier (keeps an earlier start).
pub async fn start_grace(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    ids: &[MemberId],
    day: NaiveDate,
) -> Result<(), sqlx::Error> {
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO tier_rule_grace (workspace_id, member_id, below_since) SELECT $1, u, $3 FROM unnest($2::uuid[]) u
         ON CONFLICT (workspace_id, member_id) DO NOTHING",
    )
    .bind(ws)
    .bind(ids)
    .bind(day)
    .execute(conn)
    .await?;
    Ok(())
}

/// Forgets the grace of members (they meet their tier again, or moved).
pub async fn clear_grace(conn: &mut PgConnection, ws: WorkspaceId, ids: &[MemberId]) -> Result<(), sqlx::Error> {
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query("DELETE FROM tier_rule_grace WHERE workspace_id = $1 AND member_id = ANY($2)")
        .bind(ws)
        .bind(ids)
        .execute(conn)
        .await?;
    Ok(())
}
