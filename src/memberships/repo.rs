//! All SQL of memberships.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::model::Membership;
use crate::ids::{GroupId, MemberId, MembershipId, WorkspaceId};

const SELECT: &str =
    "SELECT s.id, s.group_id, s.member_id, m.display_name, g.name AS group_name, s.joined_at, s.left_at,
    s.source, s.inviter_id, s.invite_code, s.leave_reason
    FROM memberships s
    JOIN members m ON m.workspace_id = s.workspace_id AND m.id = s.member_id
    JOIN groups g ON g.workspace_id = s.workspace_id AND g.id = s.group_id";

/// One stint.
pub async fn get(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    id: MembershipId,
) -> Result<Option<Membership>, sqlx::Error> {
    sqlx::query_as(&format!("{SELECT} WHERE s.workspace_id = $1 AND s.id = $2"))
        .bind(ws)
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// The open stint of a member in a group, locked.
pub async fn open_stint_for_update(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    group: GroupId,
    member: MemberId,
) -> Result<Option<(MembershipId, DateTime<Utc>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, joined_at FROM memberships
         WHERE workspace_id = $1 AND group_id = $2 AND member_id = $3 AND left_at IS NULL FOR UPDATE",
    )
    .bind(ws)
    .bind(group)
    .bind(member)
    .fetch_optional(conn)
    .await
}

/// Whether a closed stint of the pair ends after `at` (a join at `at` would overlap it).
pub async fn overlaps_closed_stint(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    group: GroupId,
    member: MemberId,
    at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM memberships WHERE workspace_id = $1 AND group_id = $2 AND member_id = $3
                          AND left_at IS NOT NULL AND left_at > $4)",
    )
    .bind(ws)
    .bind(group)
    .bind(member)
    .bind(at)
    .fetch_one(conn)
    .await
}

/// The most recently closed stint of a pair.
pub async fn latest_closed(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    group: GroupId,
    member: MemberId,
) -> Result<Option<MembershipId>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM memberships WHERE workspace_id = $1 AND group_id = $2 AND member_id = $3 AND left_at IS NOT NULL
         ORDER BY left_at DESC, joined_at DESC LIMIT 1",
    )
    .bind(ws)
    .bind(group)
    .bind(member)
    .fetch_optional(conn)
    .await
}

/// Stints of a group (open only unless `history`), newest first.
pub async fn list_for_group(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    group: GroupId,
    history: bool,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Membership>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{SELECT} WHERE s.workspace_id = $1 AND s.group_id = $2 AND ($3 OR s.left_at IS NULL)
           AND ($4::uuid IS NULL OR s.id < $4) ORDER BY s.id DESC LIMIT $5"
    ))
    .bind(ws)
    .bind(group)
    .bind(history)
    .bind(after)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Every stint of a member, newest first.
pub async fn list_for_member(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    member: MemberId,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Membership>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{SELECT} WHERE s.workspace_id = $1 AND s.member_id = $2 AND ($3::uuid IS NULL OR s.id < $3)
         ORDER BY s.id DESC LIMIT $4"
    ))
    .bind(ws)
    .bind(member)
    .bind(after)
    .bind(limit)
    .fetch_all(conn)
    .await
}
