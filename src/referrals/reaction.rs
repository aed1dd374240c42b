//! Joins through invite links: a newly stored `member_joined` whose invite
//! code (Telegram link name, WeCom state, `channel` or `invite_code`)
//! begins with an invite link's code opens a referral, in the events'
//! transaction (after the stints: the checks read them). A redelivered
//! join is not newly stored and changes nothing.

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use sqlx::PgConnection;

use super::service::{self, InviteJoin};
use crate::events::model::EventKind;
use crate::events::reactions::Reaction;
use crate::events::repo::Row;
use crate::ids::WorkspaceId;

/// The subscriber.
pub struct InviteJoins;

fn code_of(r: &Row) -> Option<String> {
    let text = |k: &str| r.properties.get(k).and_then(|v| v.as_str());
    let raw = text("invite_code").or_else(|| text("channel"))?;
    let code = raw.split(' ').next()?;
    crate::channels::model::looks_like_code(code).then(|| code.to_owned())
}

impl Reaction for InviteJoins {
    fn name(&self) -> &'static str {
        "invite_joins"
    }

    fn react<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        ws: WorkspaceId,
        events: &'a [Row],
        stored_at: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<(), sqlx::Error>> {
        Box::pin(async move {
            let joins: Vec<InviteJoin> = events
                .iter()
                .filter(|r| r.kind == EventKind::MemberJoined.as_str())
                .filter_map(|r| {
                    Some(InviteJoin { invitee: r.member_id?, group: r.group_id?, at: r.occurred_at, code: code_of(r)? })
                })
                .collect();
            if joins.is_empty() {
                return Ok(());
            }
            service::on_joins(conn, ws, &joins, stored_at).await
        })
    }
}
