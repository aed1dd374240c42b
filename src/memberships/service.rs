//! Joining and leaving through the API: every check in one transaction,
//! then a `member_joined` / `member_left` event (source `api`) stored like
//! any other, so its subscribers (the stint projection, the metric queues)
//! follow it exactly as for platform events.

use chrono::{DateTime, Duration, Utc};
use sqlx::PgConnection;

use super::model::{JoinGroup, JoinSource, LeaveGroup, Membership};
use super::repo;
use crate::audit::{self, Actor};
use crate::db::constraint;
use crate::events::model::{EventKind, EventSource};
use crate::events::reactions::{self, Reactions};
use crate::groups::model::GroupStatus;
use crate::ids::{GroupId, MemberId, WorkspaceId};

/// How far in the future a join or leave time may be (clock skew).
const FUTURE_TOLERANCE_MINUTES: i64 = 5;

/// Why a join or leave was refused (the HTTP edge maps each to its answer).
#[derive(Debug, thiserror::Error)]
pub enum MembershipError {
    #[error("group not found")]
    GroupNotFound,
    #[error("member not found")]
    MemberNotFound,
    #[error("membership not found")]
    MembershipNotFound,
    /// A member named in the body is not in the workspace.
    #[error("no such member in this workspace")]
    UnknownMember { field: &'static str },
    #[error("the group was dismissed")]
    GroupDismissed,
    #[error("this member's personal data was erased")]
    MemberErased,
    #[error("the member is already in this group")]
    AlreadyMember,
    #[error("joined_at falls inside an earlier stint of this member")]
    OverlappingStint,
    #[error("the member is not in this group")]
    NotAMember,
    #[error("left_at must not be before the stint's joined_at")]
    BeforeJoin,
    #[error("must not be in the future")]
    InFuture { field: &'static str },
    #[error(transparent)]
    Database(sqlx::Error),
    /// A step that cannot fail unless something else is broken.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for MembershipError {
    /// The constraints that close the races between concurrent writers.
    fn from(e: sqlx::Error) -> Self {
        match constraint(&e) {
            Some("memberships_one_open_stint") => Self::AlreadyMember,
            Some("memberships_left_after_joined") => Self::BeforeJoin,
            _ => Self::Database(e),
        }
    }
}

type Result<T> = std::result::Result<T, MembershipError>;

fn check_not_future(field: &'static str, at: DateTime<Utc>, now: DateTime<Utc>) -> Result<()> {
    if at > now + Duration::minutes(FUTURE_TOLERANCE_MINUTES) {
        return Err(MembershipError::InFuture { field });
    }
    Ok(())
}

/// Who writes, when, and who follows the events written.
pub struct Writer<'a> {
    pub actor: Actor,
    pub now: DateTime<Utc>,
    pub subscribers: &'a Reactions,
}

/// Opens a stint of `req.member_id` in `group`.
pub async fn join(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    group: GroupId,
    req: &JoinGroup,
    by: &Writer<'_>,
) -> Result<Membership> {
    let now = by.now;
    let g = crate::groups::repo::get(conn, ws, group).await?.ok_or(MembershipError::GroupNotFound)?;
    if g.status == GroupStatus::Dismissed {
        return Err(MembershipError::GroupDismissed);
    }
    let m = crate::members::repo::get_for_update(conn, ws, req.member_id)
        .await?
        .ok_or(MembershipError::UnknownMember { field: "member_id" })?;
    if m.erased_at.is_some() {
        return Err(MembershipError::MemberErased);
    }
    if let Some(inviter) = req.inviter_id {
        if crate::members::repo::get(conn, ws, inviter).await?.is_none() {
            return Err(MembershipError::UnknownMember { field: "inviter_id" });
        }
    }
    let joined_at = req.joined_at.unwrap_or(now);
    check_not_future("joined_at", joined_at, now)?;
    if repo::open_stint_for_update(conn, ws, group, req.member_id).await?.is_some() {
        return Err(MembershipError::AlreadyMember);
    }
    if repo::overlaps_closed_stint(conn, ws, group, req.member_id, joined_at).await? {
        return Err(MembershipError::OverlappingStint);
    }
    let mut props = serde_json::json!({"join_source": req.source.unwrap_or(JoinSource::Unknown)});
    if let Some(i) = req.inviter_id {
        props["inviter_id"] = i.to_string().into();
    }
    if let Some(code) = req.invite_code.as_deref().map(str::trim) {
        props["invite_code"] = code.into();
    }
    let event =
        Stored { kind: EventKind::MemberJoined, group, member: req.member_id, at: joined_at, properties: props };
    record_event(conn, ws, event, now, by.subscribers).await?;
    let (id, _) = repo::open_stint_for_update(conn, ws, group, req.member_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("join produced no open stint"))?;
    audit::record(
        conn,
        ws,
        by.actor,
        "membership.join",
        "membership",
        id,
        serde_json::json!({"group_id": group, "member_id": req.member_id, "source": req.source}),
    )
    .await?;
    repo::get(conn, ws, id).await?.ok_or(MembershipError::MembershipNotFound)
}

/// A join or leave to store.
struct Stored {
    kind: EventKind,
    group: GroupId,
    member: MemberId,
    at: DateTime<Utc>,
    properties: serde_json::Value,
}

/// Stores a membership event; its subscribers re-project the pair's stints.
async fn record_event(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    e: Stored,
    now: DateTime<Utc>,
    subscribers: &Reactions,
) -> Result<()> {
    let row = crate::events::repo::Row {
        id: uuid::Uuid::now_v7(),
        kind: e.kind.as_str().to_owned(),
        occurred_at: e.at,
        group_id: Some(e.group.0),
        member_id: Some(e.member.0),
        campaign_id: None,
        campaign_code: None,
        order_id: None,
        amount: None,
        currency: None,
        properties: e.properties,
        source: EventSource::Api,
        text: None,
    };
    reactions::store(conn, ws, &[row], now, subscribers).await?;
    Ok(())
}

/// Closes the open stint of `member` in `group`.
pub async fn leave(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    group: GroupId,
    member: MemberId,
    req: &LeaveGroup,
    by: &Writer<'_>,
) -> Result<Membership> {
    let now = by.now;
    if !crate::groups::repo::exists(conn, ws, group).await? {
        return Err(MembershipError::GroupNotFound);
    }
    if crate::members::repo::get(conn, ws, member).await?.is_none() {
        return Err(MembershipError::MemberNotFound);
    }
    let Some((id, joined_at)) = repo::open_stint_for_update(conn, ws, group, member).await? else {
        return Err(MembershipError::NotAMember);
    };
    let left_at = req.left_at.unwrap_or(now);
    check_not_future("left_at", left_at, now)?;
    if left_at < joined_at {
        // The request is well-formed; it does not fit the stint stored.
        return Err(MembershipError::BeforeJoin);
    }
    let mut props = serde_json::json!({});
    if let Some(r) = req.reason.as_deref().map(str::trim) {
        props["leave_reason"] = r.into();
    }
    let event = Stored { kind: EventKind::MemberLeft, group, member, at: left_at, properties: props };
    record_event(conn, ws, event, now, by.subscribers).await?;
    audit::record(
        conn,
        ws,
        by.actor,
        "membership.leave",
        "membership",
        id,
        serde_json::json!({"group_id": group, "member_id": member}),
    )
    .await?;
    let closed = repo::latest_closed(conn, ws, group, member).await?.ok_or(MembershipError::MembershipNotFound)?;
    repo::get(conn, ws, closed).await?.ok_or(MembershipError::MembershipNotFound)
}
