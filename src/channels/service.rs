//! A visit to a channel's link: which group it goes to, or that every
//! group is full (announced once per spell).

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::model::{self, ChannelStatus, Strategy, Target};
use super::repo;
use crate::ids::WorkspaceId;

/// Where a visit goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visit {
    /// The invite link of the group chosen.
    To(String),
    /// Every group is full or closed (or the channel is paused).
    Full,
}

/// The target's group ids, in order (a layer's groups as it resolves now).
pub async fn target_ids(conn: &mut PgConnection, ws: WorkspaceId, t: &Target) -> Result<Vec<Uuid>, sqlx::Error> {
    if let Some(ids) = &t.group_ids {
        return Ok(ids.iter().map(|g| g.0).collect());
    }
    let Some(layer) = t.layer_id else { return Ok(vec![]) };
    let Some(l) = crate::layers::repo::get(conn, ws, layer).await? else { return Ok(vec![]) };
    let groups = crate::groups::repo::schedule_targets(conn, ws, &l.selector.to_filter()).await?;
    Ok(groups.iter().map(|g| g.id.0).collect())
}

/// Routes one visit to the link of `code` (None: no such channel, or
/// archived), on one pooled connection: reads only, except a round-robin
/// channel's turn (one guarded counter) and the start and end of a full spell.
pub async fn visit(pool: &PgPool, code: &str, now: DateTime<Utc>) -> anyhow::Result<Option<Visit>> {
    let mut conn = pool.acquire().await?;
    let Some((ws, ch)) = repo::by_code(&mut conn, code).await? else { return Ok(None) };
    match ch.status {
        ChannelStatus::Archived => return Ok(None),
        ChannelStatus::Paused => return Ok(Some(Visit::Full)),
        ChannelStatus::Active => {}
    }
    let ch = &ch;
    let ids = target_ids(&mut conn, ws, &ch.target.0).await?;
    let groups = repo::candidates(&mut conn, ws, &ids).await?;
    let turn = match ch.strategy {
        Strategy::RoundRobin => repo::next_turn(&mut conn, ws, ch.id).await?.max(0) as u64,
        Strategy::FillInOrder => 0,
    };
    if let Some(g) = model::route(&groups, ch.capacity_per_group as i64, ch.strategy, turn) {
        if ch.full_since.is_some() {
            repo::clear_full(&mut conn, ws, ch.id).await?;
        }
        return Ok(Some(Visit::To(g.invite_url.clone().unwrap_or_default())));
    }
    drop(conn);
    let mut tx = crate::db::begin(pool).await?;
    if repo::mark_full(&mut tx, ws, ch.id, now).await? {
        super::outbound::full(&mut tx, ws, ch, &ids, now).await?;
    }
    tx.commit().await?;
    Ok(Some(Visit::Full))
}
