//! What the operator's endpoints hear of groups: `group.created` (through
//! the API, or first seen on a platform) and `group.status_changed`, each
//! emitted in the transaction that makes the change.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::model::GroupStatus;
use crate::ids::{GroupId, WorkspaceId};
use crate::platform::Platform;
use crate::webhooks::catalogue::{spelled, GroupCreated, GroupStatusChanged};
use crate::webhooks::outbox::{self, Outgoing};

/// A group that came into being.
pub struct Created<'a> {
    pub id: GroupId,
    pub name: &'a str,
    pub platform: Platform,
    pub external_id: &'a str,
}

/// Emits `group.created` for `groups`; `source` is `api` or `platform`.
pub async fn created(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    groups: &[Created<'_>],
    source: &str,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let mut out = Vec::with_capacity(groups.len());
    for g in groups {
        let p = GroupCreated {
            group_id: g.id.0,
            name: g.name.to_owned(),
            platform: g.platform.as_str().to_owned(),
            external_id: g.external_id.to_owned(),
            source: source.to_owned(),
            created_at: at,
        };
        out.push(Outgoing::new(at, &p)?);
    }
    outbox::emit(conn, ws, at, &out).await?;
    Ok(())
}

/// Emits `group.status_changed` when `from` differs from `to`.
pub async fn status_changed(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    (id, name): (GroupId, &str),
    from: GroupStatus,
    to: GroupStatus,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    if from == to {
        return Ok(());
    }
    let p = GroupStatusChanged {
        group_id: id.0,
        name: name.to_owned(),
        from: spelled(from),
        to: spelled(to),
        changed_at: at,
    };
    outbox::emit(conn, ws, at, &[Outgoing::new(at, &p)?]).await?;
    Ok(())
}
