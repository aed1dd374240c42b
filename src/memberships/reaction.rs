//! Stints follow stored join and leave events: this subscriber re-projects
//! the stints of every (member, group) pair a newly stored join or leave
//! touched, in the transaction that stored it, so a 2xx for the event means
//! the stint is there to read.

use std::collections::BTreeSet;

use futures_util::future::BoxFuture;
use sqlx::PgConnection;

use super::projection;
use crate::events::reactions::Reaction;
use crate::events::repo::Row;
use crate::ids::{GroupId, MemberId, WorkspaceId};

/// Re-projects the stints of the pairs that joins and leaves touched.
#[derive(Debug, Default)]
pub struct Stints;

impl Reaction for Stints {
    fn name(&self) -> &'static str {
        "membership_stints"
    }

    fn react<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        ws: WorkspaceId,
        events: &'a [Row],
        _stored_at: chrono::DateTime<chrono::Utc>,
    ) -> BoxFuture<'a, Result<(), sqlx::Error>> {
        Box::pin(async move {
            let pairs: BTreeSet<(MemberId, GroupId)> = events
                .iter()
                .filter(|r| r.is_membership())
                .filter_map(|r| Some((MemberId(r.member_id?), GroupId(r.group_id?))))
                .collect();
            let pairs: Vec<(MemberId, GroupId)> = pairs.into_iter().collect();
            projection::sync_pairs(conn, ws, &pairs).await
        })
    }
}

/// Tells the operator's endpoints of joins and leaves
/// (`member.joined_group`, `member.left_group`), in the storing transaction.
#[derive(Debug, Default)]
pub struct Announce;

impl Reaction for Announce {
    fn name(&self) -> &'static str {
        "membership_webhooks"
    }

    fn react<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        ws: WorkspaceId,
        events: &'a [Row],
        stored_at: chrono::DateTime<chrono::Utc>,
    ) -> BoxFuture<'a, Result<(), sqlx::Error>> {
        Box::pin(announce(conn, ws, events, stored_at))
    }
}

async fn announce(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    events: &[Row],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), sqlx::Error> {
    use crate::events::model::EventKind;
    use crate::webhooks::catalogue::{MemberJoinedGroup, MemberLeftGroup, Payload};
    use crate::webhooks::outbox::{self, Outgoing};

    let moves: Vec<&Row> = events.iter().filter(|r| r.is_membership() && r.group_id.is_some()).collect();
    if moves.is_empty() {
        return Ok(());
    }
    let wanted = outbox::subscribed(conn, ws, &[MemberJoinedGroup::TYPE, MemberLeftGroup::TYPE]).await?;
    if wanted.is_empty() {
        return Ok(());
    }
    let groups: Vec<uuid::Uuid> = moves.iter().filter_map(|r| r.group_id).collect();
    let names: std::collections::HashMap<uuid::Uuid, String> =
        crate::groups::repo::names(conn, ws, &groups).await?.into_iter().collect();
    let text = |r: &Row, k: &str| r.properties.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    let mut out = Vec::new();
    for r in moves {
        let (Some(group_id), Some(member_id)) = (r.group_id, r.member_id) else { continue };
        let group_name = names.get(&group_id).cloned().unwrap_or_default();
        let source =
            serde_json::to_value(r.source).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
        let joined = EventKind::parse(&r.kind) == Some(EventKind::MemberJoined);
        if joined && wanted.contains(&MemberJoinedGroup::TYPE) {
            let p = MemberJoinedGroup {
                event_id: r.id,
                member_id,
                group_id,
                group_name,
                source,
                occurred_at: r.occurred_at,
                inviter_member_id: text(r, "inviter_id").and_then(|s| s.parse().ok()),
                channel: text(r, "join_source"),
            };
            out.push(Outgoing::new(r.occurred_at, &p)?);
        } else if !joined && wanted.contains(&MemberLeftGroup::TYPE) {
            let p = MemberLeftGroup {
                event_id: r.id,
                member_id,
                group_id,
                group_name,
                source,
                occurred_at: r.occurred_at,
                reason: text(r, "reason"),
            };
            out.push(Outgoing::new(r.occurred_at, &p)?);
        }
    }
    outbox::emit(conn, ws, now, &out).await?;
    Ok(())
}
