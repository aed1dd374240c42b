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
