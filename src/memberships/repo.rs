//! All SQL of memberships.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use super::model::{Membership, Stint};
use crate::ids::{GroupId, MemberId, MembershipId, WorkspaceId};

const SELECT: &str =
    "SELECT s.id, s.group_id, s.member_id, m.display_name, g.name AS group_name, s.joined_at, s.left_at,
    s.source, s.inviter_id, s.invite_code, s.channel_id, s.leave_reason
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

/// The members now in any of `groups` (an open stint), each once.
pub async fn current_members(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    groups: &[Uuid],
) -> Result<Vec<crate::ids::MemberId>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT DISTINCT member_id FROM memberships WHERE workspace_id = $1 AND left_at IS NULL AND group_id = ANY($2)",
    )
    .bind(ws)
    .bind(groups)
    .fetch_all(conn)
    .await
}

/// Whether `member` is now in any of `groups` (an open stint).
pub async fn is_in_any(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    member: MemberId,
    groups: &[Uuid],
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM memberships
                        WHERE workspace_id = $1 AND member_id = $2 AND left_at IS NULL AND group_id = ANY($3))",
    )
    .bind(ws)
    .bind(member)
    .bind(groups)
    .fetch_one(conn)
    .await
}

/// When `member` first joined a group of the workspace (None: never).
pub async fn first_joined(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    member: MemberId,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar("SELECT min(joined_at) FROM memberships WHERE workspace_id = $1 AND member_id = $2")
        .bind(ws)
        .bind(member)
        .fetch_one(conn)
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

/// The stored stints of the pairs `(members[i], groups[i])`, each pair's in order.
pub async fn stints_of_pairs(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    members: &[Uuid],
    groups: &[Uuid],
) -> Result<HashMap<(Uuid, Uuid), Vec<Stint>>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT p.m, p.g, s.joined_at, s.left_at, s.source, s.inviter_id, s.invite_code, s.leave_reason
         FROM unnest($2::uuid[], $3::uuid[]) AS p(m, g)
         CROSS JOIN LATERAL (SELECT * FROM memberships
                             WHERE workspace_id = $1 AND group_id = p.g AND member_id = p.m
                             ORDER BY joined_at, id) s",
    )
    .bind(ws)
    .bind(members)
    .bind(groups)
    .fetch_all(conn)
    .await?;
    let mut out: HashMap<(Uuid, Uuid), Vec<Stint>> = HashMap::new();
    for r in &rows {
        out.entry((r.try_get("m")?, r.try_get("g")?)).or_default().push(Stint {
            joined_at: r.try_get("joined_at")?,
            left_at: r.try_get("left_at")?,
            source: r.try_get("source")?,
            inviter: r.try_get("inviter_id")?,
            invite_code: r.try_get("invite_code")?,
            leave_reason: r.try_get("leave_reason")?,
        });
    }
    Ok(out)
}

/// Replaces the stints of the `changed` (member, group) pairs with `stints`
/// (member, group, stint). An inviter who is not a member of this workspace
/// is not recorded. A stint whose invite code names a channel of the
/// workspace — its code, a platform link named "<code> <name>", or its id —
/// is attributed to it (`channel_id`) and counts under the channel's join
/// source (a store poster's joins are `offline`; an invite link's
/// `invite_link`).
pub async fn replace_stints(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    changed: &[(Uuid, Uuid)],
    stints: &[(Uuid, Uuid, Stint)],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "DELETE FROM memberships s USING unnest($2::uuid[], $3::uuid[]) AS p(m, g)
         WHERE s.workspace_id = $1 AND s.member_id = p.m AND s.group_id = p.g",
    )
    .bind(ws)
    .bind(changed.iter().map(|c| c.0).collect::<Vec<_>>())
    .bind(changed.iter().map(|c| c.1).collect::<Vec<_>>())
    .execute(&mut *conn)
    .await?;
    if stints.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO memberships (workspace_id, id, group_id, member_id, joined_at, left_at, source, inviter_id,
             invite_code, channel_id, leave_reason)
         SELECT $1, u.id, u.g, u.m, u.joined, u.left_at, COALESCE(c.source, u.source), i.id, u.code, c.id, u.reason
         FROM unnest($2::uuid[], $3::uuid[], $4::uuid[], $5::timestamptz[], $6::timestamptz[], $7::text[],
                     $8::uuid[], $9::text[], $10::text[])
              AS u(id, g, m, joined, left_at, source, inviter, code, reason)
         LEFT JOIN members i ON i.workspace_id = $1 AND i.id = u.inviter
         LEFT JOIN LATERAL (SELECT c.id, c.source FROM channels c WHERE c.workspace_id = $1
                              AND (c.code = split_part(u.code, ' ', 1) OR c.id::text = lower(u.code)) LIMIT 1) c ON true",
    )
    .bind(ws)
    .bind(stints.iter().map(|_| Uuid::now_v7()).collect::<Vec<_>>())
    .bind(stints.iter().map(|s| s.1).collect::<Vec<_>>())
    .bind(stints.iter().map(|s| s.0).collect::<Vec<_>>())
    .bind(stints.iter().map(|s| s.2.joined_at).collect::<Vec<_>>())
    .bind(stints.iter().map(|s| s.2.left_at).collect::<Vec<_>>())
    .bind(stints.iter().map(|s| s.2.source).collect::<Vec<_>>())
    .bind(stints.iter().map(|s| s.2.inviter).collect::<Vec<_>>())
    .bind(stints.iter().map(|s| s.2.invite_code.clone()).collect::<Vec<_>>())
    .bind(stints.iter().map(|s| s.2.leave_reason.clone()).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}
