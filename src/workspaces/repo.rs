//! All SQL of workspaces.

use sqlx::{PgConnection, Row};

use sqlx::types::Json;

use super::model::{ClawbackPolicy, PointsExpiry, PointsPolicy, UpdateWorkspace, WeekStart, Workspace};
use crate::ids::WorkspaceId;

const COLUMNS: &str =
    "id, name, timezone, currency, week_start, active_event_types, points_expiry, points_clawback, created_at, updated_at";

fn from_row(r: &sqlx::postgres::PgRow) -> Result<Workspace, sqlx::Error> {
    let ws: String = r.try_get("week_start")?;
    Ok(Workspace {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        timezone: r.try_get("timezone")?,
        currency: r.try_get("currency")?,
        week_start: WeekStart::parse(&ws).ok_or_else(|| sqlx::Error::Decode("bad week_start".into()))?,
        active_event_types: r.try_get("active_event_types")?,
        points: policy_from_row(r)?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn policy_from_row(r: &sqlx::postgres::PgRow) -> Result<PointsPolicy, sqlx::Error> {
    let Json(expiry): Json<PointsExpiry> = r.try_get("points_expiry")?;
    let clawback: String = r.try_get("points_clawback")?;
    Ok(PointsPolicy {
        expiry,
        clawback: ClawbackPolicy::parse(&clawback).ok_or_else(|| sqlx::Error::Decode("bad points_clawback".into()))?,
    })
}

/// The workspace's timezone and points policy.
pub async fn points_policy(
    conn: &mut PgConnection,
    id: WorkspaceId,
) -> Result<Option<(String, PointsPolicy)>, sqlx::Error> {
    let r = sqlx::query("SELECT timezone, points_expiry, points_clawback FROM workspaces WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await?;
    r.map(|r| Ok((r.try_get("timezone")?, policy_from_row(&r)?))).transpose()
}

/// The workspace's timezone and points policy, with the timezone of group
/// `group` when it names one of the workspace's groups (`Some(None)`: the
/// group has no timezone of its own; None: no such group) — what a
/// check-in reads, in one round trip.
#[allow(clippy::type_complexity)]
pub async fn points_policy_for_group(
    conn: &mut PgConnection,
    id: WorkspaceId,
    group: Option<crate::ids::GroupId>,
) -> Result<Option<(String, PointsPolicy, Option<Option<String>>)>, sqlx::Error> {
    let r = sqlx::query(
        "SELECT w.timezone, w.points_expiry, w.points_clawback, g.id IS NOT NULL AS found, g.timezone AS group_tz
         FROM workspaces w LEFT JOIN groups g ON g.workspace_id = w.id AND g.id = $2 WHERE w.id = $1",
    )
    .bind(id)
    .bind(group)
    .fetch_optional(conn)
    .await?;
    r.map(|r| {
        let found: bool = r.try_get("found")?;
        let group_tz: Option<String> = r.try_get("group_tz")?;
        Ok((r.try_get("timezone")?, policy_from_row(&r)?, found.then_some(group_tz)))
    })
    .transpose()
}

/// Inserts a workspace.
pub async fn insert(conn: &mut PgConnection, name: &str, timezone: &str) -> Result<Workspace, sqlx::Error> {
    let r =
        sqlx::query(&format!("INSERT INTO workspaces (id, name, timezone) VALUES ($1, $2, $3) RETURNING {COLUMNS}"))
            .bind(WorkspaceId::new())
            .bind(name)
            .bind(timezone)
            .fetch_one(conn)
            .await?;
    from_row(&r)
}

/// One workspace.
pub async fn get(conn: &mut PgConnection, id: WorkspaceId) -> Result<Option<Workspace>, sqlx::Error> {
    let r =
        sqlx::query(&format!("SELECT {COLUMNS} FROM workspaces WHERE id = $1")).bind(id).fetch_optional(conn).await?;
    r.as_ref().map(from_row).transpose()
}

/// The workspace's timezone, share-locked until the transaction ends (so a
/// change of it waits for the writers that read it); None when it is gone.
pub async fn timezone_for_share(conn: &mut PgConnection, id: WorkspaceId) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT timezone FROM workspaces WHERE id = $1 FOR SHARE").bind(id).fetch_optional(conn).await
}

/// The workspace named `name`.
pub async fn by_name(conn: &mut PgConnection, name: &str) -> Result<Option<Workspace>, sqlx::Error> {
    let r = sqlx::query(&format!("SELECT {COLUMNS} FROM workspaces WHERE name = $1"))
        .bind(name)
        .fetch_optional(conn)
        .await?;
    r.as_ref().map(from_row).transpose()
}

/// Whether any workspace exists.
pub async fn any_exists(conn: &mut PgConnection) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM workspaces)").fetch_one(conn).await
}

/// Applies a patch.
pub async fn update(
    conn: &mut PgConnection,
    id: WorkspaceId,
    p: &UpdateWorkspace,
) -> Result<Option<Workspace>, sqlx::Error> {
    let r = sqlx::query(&format!(
        "UPDATE workspaces SET name = COALESCE($2, name), timezone = COALESCE($3, timezone),
             currency = COALESCE($4, currency), week_start = COALESCE($5, week_start),
             active_event_types = COALESCE($6, active_event_types),
             points_expiry = COALESCE($7, points_expiry), points_clawback = COALESCE($8, points_clawback),
             updated_at = now()
         WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(p.name.as_deref().map(str::trim))
    .bind(p.timezone.as_deref())
    .bind(p.currency.as_deref())
    .bind(p.week_start.map(WeekStart::as_str))
    .bind(p.active_event_types.as_deref())
    .bind(p.points.as_ref().and_then(|p| p.expiry).map(Json))
    .bind(p.points.as_ref().and_then(|p| p.clawback).map(ClawbackPolicy::as_str))
    .fetch_optional(conn)
    .await?;
    r.as_ref().map(from_row).transpose()
}

/// Takes (`true`) or releases the session lock that serialises the first
/// starts of several instances on an empty database.
pub async fn bootstrap_lock(conn: &mut PgConnection, take: bool) -> Result<(), sqlx::Error> {
    let sql = if take { "SELECT pg_advisory_lock(7341001)" } else { "SELECT pg_advisory_unlock(7341001)" };
    sqlx::query(sql).execute(conn).await?;
    Ok(())
}
