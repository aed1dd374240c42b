//! A visit to a channel's link: which group it goes to, or that every
//! group is full (announced once per spell).

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::model::{self, Candidate, ChannelStatus, Strategy, Target};
use super::repo::{self, Row};
use super::visits::Visits;
use crate::ids::{GroupId, WorkspaceId};

/// Where a visit went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visit {
    pub ws: WorkspaceId,
    pub channel: Uuid,
    /// The workspace's local day of the visit.
    pub day: NaiveDate,
    /// The group chosen and the link to it; None: every group is full or
    /// closed (or the channel is paused).
    pub to: Option<(GroupId, String)>,
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

/// The groups an invite link routes to: its campaign's target.
async fn campaign_groups(conn: &mut PgConnection, ws: WorkspaceId, campaign: Uuid) -> Result<Vec<Uuid>, sqlx::Error> {
    match crate::campaigns::repo::get(conn, ws, crate::ids::CampaignId(campaign), false).await? {
        Some(c) => crate::campaigns::target_groups(conn, ws, &c).await,
        None => Ok(vec![]),
    }
}

/// Routes one visit to the link of `code` (None: no such channel, or
/// archived), on one pooled connection: reads only (the channel from a
/// one-second cache, round-robin turns per process), except the start and
/// end of a full spell,
/// and — once per channel and group — the invite link a platform makes for
/// it (Telegram), so joins through it are attributed.
pub async fn visit(pool: &PgPool, visits: &Visits, code: &str, now: DateTime<Utc>) -> anyhow::Result<Option<Visit>> {
    let http = &visits.http;
    let mut conn = pool.acquire().await?;
    let found = match visits.codes.get(code) {
        Some(f) => f,
        None => {
            let f = repo::by_code(&mut conn, code).await?;
            visits.codes.put(code, f.clone());
            f
        }
    };
    let Some((ws, tz, ch)) = found else { return Ok(None) };
    let day = now.with_timezone(&crate::clock::zone(&tz)).date_naive();
    let mut visit = Visit { ws, channel: ch.id, day, to: None };
    match ch.status {
        ChannelStatus::Archived => return Ok(None),
        ChannelStatus::Paused => return Ok(Some(visit)),
        ChannelStatus::Active => {}
    }
    let ids = match ch.campaign_id {
        Some(c) => campaign_groups(&mut conn, ws, c).await?,
        None => target_ids(&mut conn, ws, &ch.target.0).await?,
    };
    let mut groups = repo::candidates(&mut conn, ws, ch.id, &ids).await?;
    let turn = match ch.strategy {
        Strategy::RoundRobin => visits.turns.next(ch.id),
        Strategy::FillInOrder => 0,
    };
    // A group whose link cannot be made and that has none of its own is
    // dropped and the visit routed again (at most once per group).
    while let Some(g) = model::route(&groups, ch.capacity_per_group as i64, ch.strategy, turn) {
        let g = g.clone();
        if let Some(url) = link_of(&mut conn, http, ws, &ch, &g, now).await? {
            if ch.full_since.is_some() {
                repo::clear_full(&mut conn, ws, ch.id).await?;
                visits.codes.forget(code);
            }
            visit.to = Some((g.id, url));
            return Ok(Some(visit));
        }
        groups.retain(|c| c.id != g.id);
    }
    drop(conn);
    let mut tx = crate::db::begin(pool).await?;
    if repo::mark_full(&mut tx, ws, ch.id, now).await? {
        super::outbound::full(&mut tx, ws, &ch, &ids, now).await?;
    }
    tx.commit().await?;
    visits.codes.forget(code);
    Ok(Some(visit))
}

/// The link a visitor to `g` is sent to: the channel's own link for the
/// group, made now when the platform can (named after the channel), else
/// the group's invite link.
async fn link_of(
    conn: &mut PgConnection,
    http: &reqwest::Client,
    ws: WorkspaceId,
    ch: &Row,
    g: &Candidate,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<String>> {
    if let Some(l) = &g.link {
        return Ok(Some(l.clone()));
    }
    if g.can_make_link {
        match make_link(conn, http, ws, ch, g.id).await? {
            Ok(url) => return Ok(Some(repo::keep_link(conn, ws, ch.id, g.id, &url, now).await?)),
            Err(why) => tracing::warn!(channel = %ch.id, group = %g.id.0, error = %why, "no invite link made"),
        }
    }
    Ok(g.invite_url.clone())
}

/// Asks the group's platform for a link named after the channel, through
/// the workspace's oldest active connection of that platform.
async fn make_link(
    conn: &mut PgConnection,
    http: &reqwest::Client,
    ws: WorkspaceId,
    ch: &Row,
    group: GroupId,
) -> anyhow::Result<Result<String, String>> {
    let Some((platform, chat)) = repo::chat_of(conn, ws, group).await? else {
        return Ok(Err("the group is gone".into()));
    };
    let conns = crate::connections::repo::active_with_credentials(conn, ws).await?;
    let Some(c) = conns.iter().find(|c| c.platform == platform) else {
        return Ok(Err(format!("no active {} connection", platform.as_str())));
    };
    let name = model::link_name(&ch.code, &ch.name);
    Ok(crate::platforms::create_invite_link(http, platform, &c.credentials, &c.settings, &chat, &name).await)
}
