//! Opening, joining and failing teams, each in the caller's transaction
//! with the messages it sends.
//!
//! A join takes the member's place against their limit first (their row
//! stays locked to the commit), then the team's place by the guarded
//! update that is the only way a team grows (the team's row is the one
//! every joiner of the team waits on, held from that update to the
//! commit), then stores the member. A refusal rolls everything back.

use chrono::{DateTime, Duration, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::model::{Status, Team, TeamStatus};
use super::repo::{self, Row, TeamRow};
use crate::campaigns::model::CampaignStatus;
use crate::ids::{CampaignId, GroupId, MemberId, WorkspaceId};
use crate::webhooks::catalogue::{GroupBuyFailed, GroupBuySucceeded, TeamPlace};
use crate::webhooks::outbox::{self, Outgoing};

/// Why an open or a join was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The group-buy is paused or archived (opening only).
    NotActive,
    /// Its campaign is not running (opening only).
    CampaignNotRunning,
    NotEligible,
    /// Staff and bots do not buy in teams.
    StaffOrBot,
    /// Joiners must be new members.
    NotNew,
    LimitReached,
    MaxTeams,
    TeamFull,
    /// Failed, or past `expires_at`.
    TeamClosed,
    AlreadyInTeam,
    /// The order holds a place for another member or in another team.
    OrderInUse,
}

/// The outcome of an open or a join.
#[derive(Debug)]
pub enum Outcome {
    /// Done now.
    Done(Team),
    /// The order already held this place: the same answer.
    Again(Team),
    Refused(Refusal),
}

/// The checks before any write: the member exists (`None` otherwise), may
/// take part, and is new when joiners must be.
async fn admit(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    g: &Row,
    member: MemberId,
    joining: bool,
    now: DateTime<Utc>,
) -> Result<Option<Result<bool, Refusal>>, sqlx::Error> {
    let f = repo::member_facts(conn, ws, member, now).await?;
    if !f.found {
        return Ok(None);
    }
    if f.staff_or_bot {
        return Ok(Some(Err(Refusal::StaffOrBot)));
    }
    if joining && g.new_members_only_joiners && !f.new_member {
        return Ok(Some(Err(Refusal::NotNew)));
    }
    let rule = g.eligible.as_ref().map(|e| &e.0);
    if !crate::coupons::service::eligible(conn, ws, rule, member, now).await? {
        return Ok(Some(Err(Refusal::NotEligible)));
    }
    Ok(Some(Ok(f.new_member)))
}

/// The team an order already holds a place in for this member, if any: a
/// retried request gets the same answer; another member's, `OrderInUse`.
async fn replay(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    g: &Row,
    member: MemberId,
    order: &str,
    team: Option<Uuid>,
) -> Result<Option<Outcome>, sqlx::Error> {
    let Some((t, m)) = repo::place_of_order(conn, ws, g.id, order).await? else { return Ok(None) };
    if m != member.0 || team.is_some_and(|id| id != t) {
        return Ok(Some(Outcome::Refused(Refusal::OrderInUse)));
    }
    let row = repo::get_team(conn, ws, t, false).await?.ok_or(sqlx::Error::RowNotFound)?;
    Ok(Some(Outcome::Again(view(conn, ws, row).await?)))
}

async fn view(conn: &mut PgConnection, ws: WorkspaceId, t: TeamRow) -> Result<Team, sqlx::Error> {
    repo::views(conn, ws, vec![t]).await?.pop().ok_or(sqlx::Error::RowNotFound)
}

/// Opens a team with `member` as its leader (201), in its own transaction.
/// `None`: no such member.
pub async fn open(
    pool: &PgPool,
    ws: WorkspaceId,
    g: &Row,
    member: MemberId,
    order: &str,
    group: Option<GroupId>,
    now: DateTime<Utc>,
) -> Result<Option<Outcome>, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    if let Some(again) = replay(&mut conn, ws, g, member, order, None).await? {
        return Ok(Some(again));
    }
    if g.status != Status::Active {
        return Ok(Some(Outcome::Refused(Refusal::NotActive)));
    }
    let c = crate::campaigns::repo::get(&mut conn, ws, CampaignId(g.campaign_id), false).await?;
    if c.is_none_or(|c| c.status != CampaignStatus::Running) {
        return Ok(Some(Outcome::Refused(Refusal::CampaignNotRunning)));
    }
    let new_member = match admit(&mut conn, ws, g, member, false, now).await? {
        None => return Ok(None),
        Some(Err(r)) => return Ok(Some(Outcome::Refused(r))),
        Some(Ok(new)) => new,
    };
    drop(conn);
    let mut tx = crate::db::begin(pool).await?;
    if !repo::take_place(&mut tx, ws, g.id, member, g.per_member_limit).await? {
        drop(tx);
        return settle_refusal(pool, ws, g, member, order, None, Refusal::LimitReached).await;
    }
    let t = TeamRow {
        id: Uuid::now_v7(),
        group_buy_id: g.id,
        leader_id: member.0,
        group_id: group.map(|g| g.0),
        team_size: g.team_size,
        joined: 1,
        status: TeamStatus::Open,
        reason: None,
        expires_at: now + Duration::hours(g.time_limit_hours as i64),
        opened_at: now,
        closed_at: None,
    };
    repo::insert_team(&mut tx, ws, &t).await?;
    if !repo::insert_member(&mut tx, ws, g.id, t.id, member, order, 1, new_member, now).await? {
        drop(tx);
        return settle_refusal(pool, ws, g, member, order, None, Refusal::OrderInUse).await;
    }
    // Last: the group-buy's row is the one every opening waits on.
    if g.max_teams.is_some() && !repo::count_team(&mut tx, ws, g.id).await? {
        return Ok(Some(Outcome::Refused(Refusal::MaxTeams)));
    }
    let team = view(&mut tx, ws, t).await?;
    tx.commit().await?;
    Ok(Some(Outcome::Done(team)))
}

/// After a rolled-back attempt: a concurrent request with the same order
/// may have taken the place meanwhile (the same answer), else the refusal.
async fn settle_refusal(
    pool: &PgPool,
    ws: WorkspaceId,
    g: &Row,
    member: MemberId,
    order: &str,
    team: Option<Uuid>,
    r: Refusal,
) -> Result<Option<Outcome>, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    Ok(Some(replay(&mut conn, ws, g, member, order, team).await?.unwrap_or(Outcome::Refused(r))))
}

/// Joins `member` to a team (201), in its own transaction. `None`: no such
/// member. A team past `expires_at` still open is failed at once.
pub async fn join(
    pool: &PgPool,
    ws: WorkspaceId,
    g: &Row,
    team: &TeamRow,
    member: MemberId,
    order: &str,
    now: DateTime<Utc>,
) -> Result<Option<Outcome>, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    if let Some(again) = replay(&mut conn, ws, g, member, order, Some(team.id)).await? {
        return Ok(Some(again));
    }
    // Answered before the member checks: the shop refunds on these at once.
    match closed(team, now) {
        Some(Refusal::TeamClosed) if team.status == TeamStatus::Open => {
            drop(conn);
            fail_one(pool, ws, team.id, now).await?;
            return Ok(Some(Outcome::Refused(Refusal::TeamClosed)));
        }
        Some(r) => return Ok(Some(Outcome::Refused(r))),
        None => {}
    }
    if repo::is_in_team(&mut conn, ws, team.id, member).await? {
        return Ok(Some(Outcome::Refused(Refusal::AlreadyInTeam)));
    }
    let new_member = match admit(&mut conn, ws, g, member, true, now).await? {
        None => return Ok(None),
        Some(Err(r)) => return Ok(Some(Outcome::Refused(r))),
        Some(Ok(new)) => new,
    };
    drop(conn);
    let mut tx = crate::db::begin(pool).await?;
    if !repo::take_place(&mut tx, ws, g.id, member, g.per_member_limit).await? {
        drop(tx);
        return settle_refusal(pool, ws, g, member, order, Some(team.id), Refusal::LimitReached).await;
    }
    match take(&mut tx, ws, g, team.id, member, order, new_member, now).await? {
        Ok(t) => {
            tx.commit().await?;
            Ok(Some(Outcome::Done(t)))
        }
        Err(r) => {
            drop(tx);
            settle_refusal(pool, ws, g, member, order, Some(team.id), r).await
        }
    }
}

/// Why a team takes no one now (None: it may).
fn closed(t: &TeamRow, now: DateTime<Utc>) -> Option<Refusal> {
    match t.status {
        TeamStatus::Succeeded => Some(Refusal::TeamFull),
        TeamStatus::Failed => Some(Refusal::TeamClosed),
        TeamStatus::Open if t.joined >= t.team_size => Some(Refusal::TeamFull),
        TeamStatus::Open if t.expires_at <= now => Some(Refusal::TeamClosed),
        TeamStatus::Open => None,
    }
}

/// Takes a place in a team and stores the member; the join that fills it
/// announces the success. The caller commits on `Ok`, rolls back otherwise.
#[allow(clippy::too_many_arguments)]
async fn take(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    g: &Row,
    team: Uuid,
    member: MemberId,
    order: &str,
    new_member: bool,
    now: DateTime<Utc>,
) -> Result<Result<Team, Refusal>, sqlx::Error> {
    let Some((position, status)) = repo::fill(conn, ws, team, now).await? else {
        let t = repo::get_team(conn, ws, team, false).await?.ok_or(sqlx::Error::RowNotFound)?;
        return Ok(Err(closed(&t, now).unwrap_or(Refusal::TeamClosed)));
    };
    if !repo::insert_member(conn, ws, g.id, team, member, order, position, new_member, now).await? {
        let r = match repo::is_in_team(conn, ws, team, member).await? {
            true => Refusal::AlreadyInTeam,
            false => Refusal::OrderInUse,
        };
        return Ok(Err(r));
    }
    let t = repo::get_team(conn, ws, team, false).await?.ok_or(sqlx::Error::RowNotFound)?;
    let t = view(conn, ws, t).await?;
    if status == TeamStatus::Succeeded {
        let (order_ids, members) = places(&t);
        let p = GroupBuySucceeded {
            team_id: t.id,
            group_buy_id: g.id,
            campaign_id: g.campaign_id,
            product_id: g.product_id.clone(),
            group_price: g.group_price,
            leader_member_id: t.leader_id.0,
            order_ids,
            members,
            succeeded_at: now,
        };
        outbox::emit(conn, ws, now, &[Outgoing::new(now, &p)?]).await?;
    }
    Ok(Ok(t))
}

fn places(t: &Team) -> (Vec<String>, Vec<TeamPlace>) {
    let members: Vec<TeamPlace> = t
        .members
        .iter()
        .map(|m| TeamPlace { member_id: m.member_id.0, order_id: m.order_id.clone(), position: m.position })
        .collect();
    (members.iter().map(|m| m.order_id.clone()).collect(), members)
}

/// Quick join: the open team closest to filling that no other join holds
/// right now, else a new team with `member` as its leader.
pub async fn quick_join(
    pool: &PgPool,
    ws: WorkspaceId,
    g: &Row,
    member: MemberId,
    order: &str,
    group: Option<GroupId>,
    now: DateTime<Utc>,
) -> Result<Option<Outcome>, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    if let Some(again) = replay(&mut conn, ws, g, member, order, None).await? {
        return Ok(Some(again));
    }
    let new_member = match admit(&mut conn, ws, g, member, true, now).await? {
        None => return Ok(None),
        Some(Err(Refusal::NotNew)) => return open(pool, ws, g, member, order, group, now).await,
        Some(Err(r)) => return Ok(Some(Outcome::Refused(r))),
        Some(Ok(new)) => new,
    };
    drop(conn);
    let mut tx = crate::db::begin(pool).await?;
    if !repo::take_place(&mut tx, ws, g.id, member, g.per_member_limit).await? {
        drop(tx);
        return settle_refusal(pool, ws, g, member, order, None, Refusal::LimitReached).await;
    }
    let Some(team) = repo::closest_open(&mut tx, ws, g.id, member, now).await? else {
        drop(tx);
        return open(pool, ws, g, member, order, group, now).await;
    };
    match take(&mut tx, ws, g, team, member, order, new_member, now).await? {
        Ok(t) => {
            tx.commit().await?;
            Ok(Some(Outcome::Done(t)))
        }
        Err(r) => {
            drop(tx);
            settle_refusal(pool, ws, g, member, order, None, r).await
        }
    }
}

/// Fails a (locked) open team: its members' places come back and one
/// `group_buy.failed` lists every order to refund.
async fn fail_team(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    t: TeamRow,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let g = repo::get(conn, ws, t.group_buy_id).await?.ok_or(sqlx::Error::RowNotFound)?;
    repo::fail(conn, ws, t.id, reason, now).await?;
    let team = view(conn, ws, t).await?;
    let ids: Vec<Uuid> = team.members.iter().map(|m| m.member_id.0).collect();
    repo::give_places_back(conn, ws, g.id, &ids).await?;
    let (order_ids, members) = places(&team);
    let p = GroupBuyFailed {
        team_id: team.id,
        group_buy_id: g.id,
        campaign_id: g.campaign_id,
        product_id: g.product_id,
        group_price: g.group_price,
        leader_member_id: team.leader_id.0,
        reason: reason.to_owned(),
        order_ids,
        members,
        failed_at: now,
    };
    outbox::emit(conn, ws, now, &[Outgoing::new(now, &p)?]).await?;
    Ok(())
}

/// Fails one team now if it is open past `expires_at` (a join found it so
/// before the job did).
async fn fail_one(pool: &PgPool, ws: WorkspaceId, team: Uuid, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
    let mut tx = crate::db::begin(pool).await?;
    for (ws, t, why) in repo::claim_failing(&mut tx, now, Some((ws, team)), 1).await? {
        fail_team(&mut tx, ws, t, &why, now).await?;
    }
    tx.commit().await
}

/// The expiry job: every open team past `expires_at` (or of a cancelled
/// campaign) fails, in batches, each batch its own transaction; teams
/// another instance holds are skipped, so each fails once.
pub async fn fail_due(pool: &PgPool, now: DateTime<Utc>) -> Result<usize, sqlx::Error> {
    let mut total = 0;
    loop {
        let mut tx = crate::db::begin(pool).await?;
        let due = repo::claim_failing(&mut tx, now, None, 200).await?;
        let n = due.len();
        for (ws, t, why) in due {
            fail_team(&mut tx, ws, t, &why, now).await?;
        }
        tx.commit().await?;
        total += n;
        if n < 200 {
            return Ok(total);
        }
    }
}
