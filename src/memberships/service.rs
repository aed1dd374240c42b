//! Joining and leaving, with every check in one transaction.

use chrono::{DateTime, Duration, Utc};
use sqlx::PgConnection;

use super::model::{JoinGroup, JoinSource, LeaveGroup, Membership};
use super::repo::{self, NewStint};
use crate::audit::{self, Actor};
use crate::error::{on_constraint, ApiError, ApiResult};
use crate::groups::model::GroupStatus;
use crate::ids::{GroupId, MemberId, WorkspaceId};

/// How far in the future a join or leave time may be (clock skew).
const FUTURE_TOLERANCE_MINUTES: i64 = 5;

fn map_err(e: sqlx::Error) -> ApiError {
    on_constraint(e, |c| match c {
        "memberships_one_open_stint" => {
            Some(ApiError::conflict("already_member", "the member is already in this group"))
        }
        "memberships_left_after_joined" => {
            Some(ApiError::field("left_at", "before_join", "must not be before joined_at"))
        }
        _ => None,
    })
}

fn check_not_future(field: &str, at: DateTime<Utc>, now: DateTime<Utc>) -> ApiResult<()> {
    if at > now + Duration::minutes(FUTURE_TOLERANCE_MINUTES) {
        return Err(ApiError::field(field, "in_future", "must not be in the future"));
    }
    Ok(())
}

/// Opens a stint of `req.member_id` in `group`.
pub async fn join(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    group: GroupId,
    req: &JoinGroup,
    actor: Actor,
    now: DateTime<Utc>,
) -> ApiResult<Membership> {
    req.validate()?;
    let g = crate::groups::repo::get(conn, ws, group).await?.ok_or(ApiError::NotFound("group"))?;
    if g.status == GroupStatus::Dismissed {
        return Err(ApiError::conflict("group_dismissed", "the group was dismissed"));
    }
    let m = crate::members::repo::get_for_update(conn, ws, req.member_id)
        .await?
        .ok_or_else(|| ApiError::field("member_id", "unknown", "no such member in this workspace"))?;
    if m.erased_at.is_some() {
        return Err(ApiError::conflict("member_erased", "this member's personal data was erased"));
    }
    if let Some(inviter) = req.inviter_id {
        if crate::members::repo::get(conn, ws, inviter).await?.is_none() {
            return Err(ApiError::field("inviter_id", "unknown", "no such member in this workspace"));
        }
    }
    let joined_at = req.joined_at.unwrap_or(now);
    check_not_future("joined_at", joined_at, now)?;
    if repo::open_stint_for_update(conn, ws, group, req.member_id).await?.is_some() {
        return Err(ApiError::conflict("already_member", "the member is already in this group"));
    }
    if repo::overlaps_closed_stint(conn, ws, group, req.member_id, joined_at).await? {
        return Err(ApiError::conflict("overlapping_stint", "joined_at falls inside an earlier stint of this member"));
    }
    let stint = NewStint {
        group,
        member: req.member_id,
        joined_at,
        source: req.source.unwrap_or(JoinSource::Unknown),
        inviter: req.inviter_id,
        invite_code: req.invite_code.as_deref().map(str::trim),
    };
    let id = repo::insert(conn, ws, &stint).await.map_err(map_err)?;
    audit::record(
        conn,
        ws,
        actor,
        "membership.join",
        "membership",
        id,
        serde_json::json!({"group_id": group, "member_id": req.member_id, "source": stint.source}),
    )
    .await?;
    repo::get(conn, ws, id).await?.ok_or(ApiError::NotFound("membership"))
}

/// Closes the open stint of `member` in `group`.
pub async fn leave(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    group: GroupId,
    member: MemberId,
    req: &LeaveGroup,
    actor: Actor,
    now: DateTime<Utc>,
) -> ApiResult<Membership> {
    req.validate()?;
    if !crate::groups::repo::exists(conn, ws, group).await? {
        return Err(ApiError::NotFound("group"));
    }
    if crate::members::repo::get(conn, ws, member).await?.is_none() {
        return Err(ApiError::NotFound("member"));
    }
    let Some((id, joined_at)) = repo::open_stint_for_update(conn, ws, group, member).await? else {
        return Err(ApiError::conflict("not_a_member", "the member is not in this group"));
    };
    let left_at = req.left_at.unwrap_or(now);
    check_not_future("left_at", left_at, now)?;
    if left_at < joined_at {
        return Err(ApiError::field("left_at", "before_join", "must not be before joined_at"));
    }
    repo::close(conn, ws, id, left_at, req.reason.as_deref().map(str::trim)).await.map_err(map_err)?;
    audit::record(
        conn,
        ws,
        actor,
        "membership.leave",
        "membership",
        id,
        serde_json::json!({"group_id": group, "member_id": member}),
    )
    .await?;
    repo::get(conn, ws, id).await?.ok_or(ApiError::NotFound("membership"))
}
