//! Opening, joining and failing teams, with the messages they send.
//!
//! A join reads once (the team, its group-buy and campaign, the member's
//! facts, where the order already stands), then makes one statement
//! (`repo::join`): the team's place by the guarded update that is the only
//! way a team grows (the team's row is the one every joiner of the team
//! waits on), the member's place against the limit, the member row. The
//! statement is atomic on its own — a refused member place or a conflicting
//! row raises inside it — so a join that cannot fill the team commits by
//! itself; one that may fill it runs in a transaction with the success
//! message. Opening takes the member's place, then stores the team and its
//! leader in one statement, in a transaction.

use chrono::{DateTime, Duration, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::model::{Status, Team, TeamMember, TeamStatus};
use super::repo::{self, JoinFacts, Joined, Row, TeamRow};
use crate::ids::{GroupId, MemberId, WorkspaceId};
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
    /// Failed, past `expires_at`, or of a cancelled campaign.
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
    /// No such member in the workspace.
    UnknownMember,
    /// No such group-buy or team in the workspace.
    NotFound,
}

/// What a request asks: who, on which order, from which group, when.
#[derive(Debug, Clone, Copy)]
pub struct Ask<'a> {
    pub member: MemberId,
    pub order: &'a str,
    pub group: Option<GroupId>,
    pub now: DateTime<Utc>,
}

/// Where the order already holds a place: the same member (in `team`,
/// when one is named) is a retry; anyone else's is `OrderInUse`.
fn replayed(f: &JoinFacts, member: MemberId, team: Option<Uuid>) -> Option<Result<Uuid, Refusal>> {
    let (t, m) = (f.order_team?, f.order_member?);
    Some(if m == member.0 && team.is_none_or(|id| id == t) { Ok(t) } else { Err(Refusal::OrderInUse) })
}

async fn again(conn: &mut PgConnection, ws: WorkspaceId, team: Uuid) -> Result<Outcome, sqlx::Error> {
    let row = repo::get_team(conn, ws, team, false).await?.ok_or(sqlx::Error::RowNotFound)?;
    Ok(Outcome::Again(view(conn, ws, row).await?))
}

async fn view(conn: &mut PgConnection, ws: WorkspaceId, t: TeamRow) -> Result<Team, sqlx::Error> {
    repo::views(conn, ws, vec![t]).await?.pop().ok_or(sqlx::Error::RowNotFound)
}

/// The member checks before any write, from the facts read: may the
/// member take part (and, joining, are they new when joiners must be)?
async fn admit(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    g: &Row,
    f: &JoinFacts,
    ask: &Ask<'_>,
    joining: bool,
) -> Result<Result<(), Outcome>, sqlx::Error> {
    if !f.member.found {
        return Ok(Err(Outcome::UnknownMember));
    }
    if f.member.staff_or_bot {
        return Ok(Err(Outcome::Refused(Refusal::StaffOrBot)));
    }
    if joining && g.new_members_only_joiners && !f.member.new_member {
        return Ok(Err(Outcome::Refused(Refusal::NotNew)));
    }
    let rule = g.eligible.as_ref().map(|e| &e.0);
    if rule.is_some() && !crate::coupons::service::eligible(conn, ws, rule, ask.member, ask.now).await? {
        return Ok(Err(Outcome::Refused(Refusal::NotEligible)));
    }
    Ok(Ok(()))
}

/// After a rolled-back attempt: a concurrent request with the same order
/// may have taken the place meanwhile (the same answer); a conflict is the
/// member already in the team, else the order's; otherwise `r`.
async fn settle(
    pool: &PgPool,
    ws: WorkspaceId,
    g: &Row,
    ask: &Ask<'_>,
    team: Option<Uuid>,
    r: Refusal,
) -> Result<Outcome, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let f = repo::join_facts(&mut conn, ws, g.id, team, ask.member, ask.order, ask.now).await?;
    match replayed(&f, ask.member, team) {
        Some(Ok(t)) => again(&mut conn, ws, t).await,
        Some(Err(r)) => Ok(Outcome::Refused(r)),
        None if r == Refusal::AlreadyInTeam && !f.in_team => Ok(Outcome::Refused(Refusal::OrderInUse)),
        None => Ok(Outcome::Refused(r)),
    }
}

/// Opens a team of group-buy `id` with the asking member as its leader
/// (201).
pub async fn open(pool: &PgPool, ws: WorkspaceId, id: Uuid, ask: Ask<'_>) -> Result<Outcome, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let Some((g, running, _)) = repo::get_for_write(&mut conn, ws, id).await? else { return Ok(Outcome::NotFound) };
    let f = repo::join_facts(&mut conn, ws, g.id, None, ask.member, ask.order, ask.now).await?;
    open_with(pool, conn, ws, &g, running, &f, ask).await
}

async fn open_with(
    pool: &PgPool,
    mut conn: sqlx::pool::PoolConnection<sqlx::Postgres>,
    ws: WorkspaceId,
    g: &Row,
    running: bool,
    f: &JoinFacts,
    ask: Ask<'_>,
) -> Result<Outcome, sqlx::Error> {
    match replayed(f, ask.member, None) {
        Some(Ok(t)) => return again(&mut conn, ws, t).await,
        Some(Err(r)) => return Ok(Outcome::Refused(r)),
        None => {}
    }
    if g.status != Status::Active {
        return Ok(Outcome::Refused(Refusal::NotActive));
    }
    if !running {
        return Ok(Outcome::Refused(Refusal::CampaignNotRunning));
    }
    if let Err(o) = admit(&mut conn, ws, g, f, &ask, false).await? {
        return Ok(o);
    }
    drop(conn);
    let mut tx = crate::db::begin(pool).await?;
    if !repo::take_place(&mut tx, ws, g.id, ask.member, g.per_member_limit).await? {
        drop(tx);
        return settle(pool, ws, g, &ask, None, Refusal::LimitReached).await;
    }
    let t = TeamRow {
        id: Uuid::now_v7(),
        group_buy_id: g.id,
        leader_id: ask.member.0,
        group_id: ask.group.map(|g| g.0),
        team_size: g.team_size,
        joined: 1,
        status: TeamStatus::Open,
        reason: None,
        expires_at: ask.now + Duration::hours(g.time_limit_hours as i64),
        opened_at: ask.now,
        closed_at: None,
    };
    if !repo::insert_team_with_leader(&mut tx, ws, &t, ask.order, f.member.new_member).await? {
        drop(tx);
        return settle(pool, ws, g, &ask, None, Refusal::OrderInUse).await;
    }
    // Last: the group-buy's row is the one every opening waits on.
    if g.max_teams.is_some() && !repo::count_team(&mut tx, ws, g.id).await? {
        return Ok(Outcome::Refused(Refusal::MaxTeams));
    }
    tx.commit().await?;
    let leader = TeamMember {
        member_id: ask.member,
        order_id: ask.order.to_owned(),
        position: 1,
        new_member: f.member.new_member,
        joined_at: ask.now,
    };
    Ok(Outcome::Done(t.view(vec![leader])))
}

/// Joins the asking member to team `id` (201). A team past `expires_at`
/// still open is failed at once.
pub async fn join(pool: &PgPool, ws: WorkspaceId, id: Uuid, ask: Ask<'_>) -> Result<Outcome, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let Some(read) = repo::join_read(&mut conn, ws, id, ask.member, ask.order, ask.now).await? else {
        return Ok(Outcome::NotFound);
    };
    let (team, g, cancelled, f) = (read.team, read.buy, read.cancelled, read.facts);
    match replayed(&f, ask.member, Some(team.id)) {
        Some(Ok(t)) => return again(&mut conn, ws, t).await,
        Some(Err(r)) => return Ok(Outcome::Refused(r)),
        None => {}
    }
    // Answered before the member checks: the shop refunds on these at once.
    match closed(&team, cancelled, ask.now) {
        Some(Refusal::TeamClosed) if team.status == TeamStatus::Open => {
            drop(conn);
            fail_one(pool, ws, team.id, ask.now).await?;
            return Ok(Outcome::Refused(Refusal::TeamClosed));
        }
        Some(r) => return Ok(Outcome::Refused(r)),
        None => {}
    }
    if f.in_team {
        return Ok(Outcome::Refused(Refusal::AlreadyInTeam));
    }
    if let Err(o) = admit(&mut conn, ws, &g, &f, &ask, true).await? {
        return Ok(o);
    }
    // A join that cannot fill the team sends no message: its one
    // statement commits by itself. One that may fill it (and announce the
    // success with it) goes in a transaction.
    if team.joined + 1 < team.team_size {
        match joined(&mut conn, ws, &g, team.id, &ask, f.member.new_member, false).await? {
            Ok(t) => return Ok(Outcome::Done(t)),
            // Filled meanwhile to one short, or closed: the transaction tells.
            Err(Refusal::TeamClosed) => {}
            Err(r) => {
                drop(conn);
                return settle(pool, ws, &g, &ask, Some(team.id), r).await;
            }
        }
    }
    drop(conn);
    let mut tx = crate::db::begin(pool).await?;
    match take(&mut tx, ws, &g, team.id, &ask, f.member.new_member).await? {
        Ok(t) => {
            tx.commit().await?;
            Ok(Outcome::Done(t))
        }
        Err(Refusal::TeamClosed) => {
            drop(tx);
            let mut conn = pool.acquire().await?;
            let t = repo::get_team(&mut conn, ws, team.id, false).await?.ok_or(sqlx::Error::RowNotFound)?;
            drop(conn);
            let r = closed(&t, cancelled, ask.now).unwrap_or(Refusal::TeamClosed);
            if r == Refusal::TeamClosed && t.status == TeamStatus::Open && t.expires_at <= ask.now {
                fail_one(pool, ws, t.id, ask.now).await?;
            }
            settle(pool, ws, &g, &ask, Some(team.id), r).await
        }
        Err(r) => {
            drop(tx);
            settle(pool, ws, &g, &ask, Some(team.id), r).await
        }
    }
}

/// Why a team takes no one now (None: it may).
fn closed(t: &TeamRow, cancelled: bool, now: DateTime<Utc>) -> Option<Refusal> {
    match t.status {
        TeamStatus::Succeeded => Some(Refusal::TeamFull),
        TeamStatus::Failed => Some(Refusal::TeamClosed),
        TeamStatus::Open if t.joined >= t.team_size => Some(Refusal::TeamFull),
        TeamStatus::Open if t.expires_at <= now || cancelled => Some(Refusal::TeamClosed),
        TeamStatus::Open => None,
    }
}

/// Takes a place in a team in one statement ([`repo::join`]) inside the
/// caller's transaction; the join that fills the team announces the
/// success. The caller commits on `Ok`, rolls back otherwise.
async fn take(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    g: &Row,
    team: Uuid,
    ask: &Ask<'_>,
    new_member: bool,
) -> Result<Result<Team, Refusal>, sqlx::Error> {
    let t = match joined(conn, ws, g, team, ask, new_member, true).await? {
        Ok(t) => t,
        Err(r) => return Ok(Err(r)),
    };
    if t.status == TeamStatus::Succeeded {
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
            succeeded_at: ask.now,
        };
        outbox::emit(conn, ws, ask.now, &[Outgoing::new(ask.now, &p)?]).await?;
    }
    Ok(Ok(t))
}

/// [`repo::join`] with the team it answers.
async fn joined(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    g: &Row,
    team: Uuid,
    ask: &Ask<'_>,
    new_member: bool,
    may_fill: bool,
) -> Result<Result<Team, Refusal>, sqlx::Error> {
    match repo::join(conn, ws, g, team, ask.member, ask.order, new_member, ask.now, may_fill).await? {
        Joined::Done(t, Some(members)) => Ok(Ok(t.view(members))),
        Joined::Done(t, None) => Ok(Ok(view(conn, ws, t).await?)),
        Joined::Closed => Ok(Err(Refusal::TeamClosed)),
        Joined::LimitReached => Ok(Err(Refusal::LimitReached)),
        Joined::Conflict => Ok(Err(Refusal::AlreadyInTeam)),
    }
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
/// right now, else a new team with the asking member as its leader.
pub async fn quick_join(pool: &PgPool, ws: WorkspaceId, id: Uuid, ask: Ask<'_>) -> Result<Outcome, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let Some((g, running, cancelled)) = repo::get_for_write(&mut conn, ws, id).await? else {
        return Ok(Outcome::NotFound);
    };
    let f = repo::join_facts(&mut conn, ws, g.id, None, ask.member, ask.order, ask.now).await?;
    match replayed(&f, ask.member, None) {
        Some(Ok(t)) => return again(&mut conn, ws, t).await,
        Some(Err(r)) => return Ok(Outcome::Refused(r)),
        None => {}
    }
    if cancelled {
        // Its open teams take no one; opening answers why not.
        return open_with(pool, conn, ws, &g, running, &f, ask).await;
    }
    match admit(&mut conn, ws, &g, &f, &ask, true).await? {
        Ok(()) => {}
        // Who may not join may still lead.
        Err(Outcome::Refused(Refusal::NotNew)) => return open_with(pool, conn, ws, &g, running, &f, ask).await,
        Err(o) => return Ok(o),
    }
    drop(conn);
    let mut tx = crate::db::begin(pool).await?;
    let Some(team) = repo::closest_open(&mut tx, ws, g.id, ask.member, ask.now).await? else {
        drop(tx);
        return open_with(pool, pool.acquire().await?, ws, &g, running, &f, ask).await;
    };
    match take(&mut tx, ws, &g, team, &ask, f.member.new_member).await? {
        Ok(t) => {
            tx.commit().await?;
            Ok(Outcome::Done(t))
        }
        // A cancelled campaign's team: opening answers why not.
        Err(Refusal::TeamClosed) => {
            drop(tx);
            open_with(pool, pool.acquire().await?, ws, &g, running, &f, ask).await
        }
        Err(r) => {
            drop(tx);
            settle(pool, ws, &g, &ask, None, r).await
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
    let (g, _, _) = repo::get_for_write(conn, ws, t.group_buy_id).await?.ok_or(sqlx::Error::RowNotFound)?;
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
