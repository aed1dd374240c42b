//! What the shop hears of channels: `channel.full` when a visit first finds
//! every group full, emitted in the transaction that starts the spell.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::repo::Row;
use crate::ids::WorkspaceId;
use crate::webhooks::catalogue::ChannelFull;
use crate::webhooks::outbox::{self, Outgoing};

/// Announces a channel's full spell.
pub async fn full(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    ch: &Row,
    groups: &[Uuid],
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let p = ChannelFull {
        channel_id: ch.id,
        name: ch.name.clone(),
        code: ch.code.clone(),
        capacity_per_group: ch.capacity_per_group,
        group_ids: groups.to_vec(),
        full_since: now,
    };
    outbox::emit(conn, ws, now, &[Outgoing::new(now, &p)?]).await?;
    Ok(())
}
