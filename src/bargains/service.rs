//! Starting, helping, buying and expiring bargain sessions, each in one
//! transaction with the messages it sends.
//!
//! A help locks its session's row, checks it is open and unexpired, stores
//! the help (one per helper: primary key) with the cut the rule gives for
//! its position, and moves the price by a guarded update; concurrent helps
//! queue on the row, so the count never passes `helpers_needed` and the
//! last help lands exactly on the floor (both also checked by the table).

use chrono::{DateTime, Duration, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::cut;
use super::model::{BuyAt, Help, HelpDone, Session, SessionStatus, Status};
use super::repo::{self, Row, SessionRow};
use crate::campaigns::model::CampaignStatus;
use crate::group_buys::repo::member_facts;
use crate::ids::{CampaignId, GroupId, MemberId, WorkspaceId};
use crate::webhooks::catalogue::{BargainCompleted, BargainPurchased};
use crate::webhooks::outbox::{self, Outgoing};

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    NotActive,
    CampaignNotRunning,
    StaffOrBot,
    SelfHelp,
    NotNew,
    /// With the cut that helper gave.
    AlreadyHelped(i64),
    /// The floor is reached: no help is needed.
    Complete,
    /// Bought or expired.
    Closed(SessionStatus),
    /// `buy_at: floor` and the floor is not reached.
    FloorNotReached,
    /// Bought on another order.
    AlreadyPurchased,
    /// The order bought another session of the bargain.
    OrderInUse,
    /// No such session in the workspace.
    NoSuchSession,
}

/// A session with its helps.
pub async fn view(conn: &mut PgConnection, ws: WorkspaceId, s: SessionRow) -> Result<Session, sqlx::Error> {
    let helps = repo::helps_of(conn, ws, s.id).await?;
    Ok(s.view(helps))
}

/// Starts a session for `member` (true: new; false: their open or
/// completed session, the same answer). `None`: no such member.
pub async fn start(
    pool: &PgPool,
    ws: WorkspaceId,
    b: &Row,
    member: MemberId,
    group: Option<GroupId>,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<Result<(bool, Session), Refusal>>> {
    let mut conn = pool.acquire().await?;
    let f = member_facts(&mut conn, ws, member, now).await?;
    if !f.found {
        return Ok(None);
    }
    if let Some(s) = repo::live_session(&mut conn, ws, b.id, member).await? {
        return Ok(Some(Ok((false, view(&mut conn, ws, s).await?))));
    }
    if b.status != Status::Active {
        return Ok(Some(Err(Refusal::NotActive)));
    }
    let c = crate::campaigns::repo::get(&mut conn, ws, CampaignId(b.campaign_id), false).await?;
    if c.is_none_or(|c| c.status != CampaignStatus::Running) {
        return Ok(Some(Err(Refusal::CampaignNotRunning)));
    }
    if f.staff_or_bot {
        return Ok(Some(Err(Refusal::StaffOrBot)));
    }
    let mut seed = vec![0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let s = SessionRow {
        id: Uuid::now_v7(),
        bargain_id: b.id,
        member_id: member.0,
        group_id: group.map(|g| g.0),
        seed,
        list_price: b.list_price,
        floor_price: b.floor_price,
        helpers_needed: b.helpers_needed,
        price: b.list_price,
        helps: 0,
        status: SessionStatus::Open,
        order_id: None,
        expires_at: now + Duration::hours(b.time_limit_hours as i64),
        started_at: now,
        completed_at: None,
        ended_at: None,
    };
    if repo::insert_session(&mut conn, ws, &s).await? {
        return Ok(Some(Ok((true, s.view(vec![])))));
    }
    // A concurrent start won: its session is the answer.
    let s = repo::live_session(&mut conn, ws, b.id, member).await?.ok_or(sqlx::Error::RowNotFound)?;
    Ok(Some(Ok((false, view(&mut conn, ws, s).await?))))
}

/// The bargain of a session (locked by the caller).
async fn bargain_of(conn: &mut PgConnection, ws: WorkspaceId, s: &SessionRow) -> Result<Row, sqlx::Error> {
    repo::get(conn, ws, s.bargain_id).await?.ok_or(sqlx::Error::RowNotFound)
}

/// Applies one help. `None`: no such helper.
pub async fn help(
    pool: &PgPool,
    ws: WorkspaceId,
    session: Uuid,
    helper: MemberId,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<Result<HelpDone, Refusal>>> {
    let mut conn = pool.acquire().await?;
    let f = member_facts(&mut conn, ws, helper, now).await?;
    if !f.found {
        return Ok(None);
    }
    drop(conn);
    let mut tx = crate::db::begin(pool).await?;
    let Some(s) = repo::get_session(&mut tx, ws, session, true).await? else {
        return Ok(Some(Err(Refusal::NoSuchSession)));
    };
    if s.member_id == helper.0 {
        return Ok(Some(Err(Refusal::SelfHelp)));
    }
    if let Some(h) = repo::help_of(&mut tx, ws, s.id, helper).await? {
        return Ok(Some(Err(Refusal::AlreadyHelped(h.cut))));
    }
    match s.status {
        SessionStatus::Open if s.expires_at <= now => {
            repo::expire(&mut tx, now, Some((ws, s.id)), 1).await?;
            tx.commit().await?;
            return Ok(Some(Err(Refusal::Closed(SessionStatus::Expired))));
        }
        SessionStatus::Open => {}
        SessionStatus::Completed => return Ok(Some(Err(Refusal::Complete))),
        other => return Ok(Some(Err(Refusal::Closed(other)))),
    }
    if f.staff_or_bot {
        return Ok(Some(Err(Refusal::StaffOrBot)));
    }
    let b = &bargain_of(&mut tx, ws, &s).await?;
    if b.helpers_new_members_only && !f.new_member {
        return Ok(Some(Err(Refusal::NotNew)));
    }
    let k = s.helps + 1;
    let c = cut::cut(&s.seed, k as u32, s.helpers_needed as u32, s.price - s.floor_price);
    let h =
        Help { helper_id: helper, seq: k, cut: c, price_after: s.price - c, new_member: f.new_member, helped_at: now };
    if !repo::insert_help(&mut tx, ws, s.id, &h).await?
        || !repo::apply_help(&mut tx, ws, s.id, h.price_after, k, now).await?
    {
        // Unreachable while the row is locked; answered as a repeat.
        return Ok(Some(Err(Refusal::AlreadyHelped(c))));
    }
    let done = k == s.helpers_needed;
    if done {
        let p = BargainCompleted {
            session_id: s.id,
            bargain_id: b.id,
            campaign_id: b.campaign_id,
            member_id: s.member_id,
            product_id: b.product_id.clone(),
            price: h.price_after,
            helps: k,
            completed_at: now,
        };
        outbox::emit(&mut tx, ws, now, &[Outgoing::new(now, &p)?]).await?;
    }
    tx.commit().await?;
    Ok(Some(Ok(HelpDone {
        cut: c,
        price: h.price_after,
        helps: k,
        remaining_helps: s.helpers_needed - k,
        status: if done { SessionStatus::Completed } else { SessionStatus::Open },
    })))
}

/// Buys a session at its price on `order`; the same order again answers
/// the same.
pub async fn purchase(
    pool: &PgPool,
    ws: WorkspaceId,
    session: Uuid,
    order: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<Result<Session, Refusal>> {
    let mut tx = crate::db::begin(pool).await?;
    let Some(s) = repo::get_session(&mut tx, ws, session, true).await? else {
        return Ok(Err(Refusal::NoSuchSession));
    };
    let b = &bargain_of(&mut tx, ws, &s).await?;
    match s.status {
        SessionStatus::Purchased if s.order_id.as_deref() == Some(order) => {
            return Ok(Ok(view(&mut tx, ws, s).await?));
        }
        SessionStatus::Purchased => return Ok(Err(Refusal::AlreadyPurchased)),
        SessionStatus::Expired => return Ok(Err(Refusal::Closed(SessionStatus::Expired))),
        _ if s.expires_at <= now => {
            repo::expire(&mut tx, now, Some((ws, s.id)), 1).await?;
            tx.commit().await?;
            return Ok(Err(Refusal::Closed(SessionStatus::Expired)));
        }
        SessionStatus::Open if b.buy_at == BuyAt::Floor => return Ok(Err(Refusal::FloorNotReached)),
        _ => {}
    }
    match repo::purchase(&mut tx, ws, s.id, order, now).await {
        Ok(true) => {}
        Ok(false) => return Ok(Err(Refusal::OrderInUse)),
        // A concurrent purchase of another session on the same order won.
        Err(sqlx::Error::Database(e)) if e.constraint() == Some("bargain_sessions_order_key") => {
            return Ok(Err(Refusal::OrderInUse))
        }
        Err(e) => return Err(e.into()),
    }
    let p = BargainPurchased {
        session_id: s.id,
        bargain_id: b.id,
        campaign_id: b.campaign_id,
        member_id: s.member_id,
        product_id: b.product_id.clone(),
        order_id: order.to_owned(),
        price: s.price,
        list_price: s.list_price,
        helps: s.helps,
        purchased_at: now,
    };
    outbox::emit(&mut tx, ws, now, &[Outgoing::new(now, &p)?]).await?;
    let done = repo::get_session(&mut tx, ws, s.id, false).await?.ok_or(sqlx::Error::RowNotFound)?;
    let v = view(&mut tx, ws, done).await?;
    tx.commit().await?;
    Ok(Ok(v))
}

/// The expiry job: open and completed sessions past `expires_at` end as
/// `expired`, in batches, each its own transaction.
pub async fn expire_due(pool: &PgPool, now: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    let mut total = 0;
    loop {
        let mut tx = crate::db::begin(pool).await?;
        let n = repo::expire(&mut tx, now, None, 1000).await?;
        tx.commit().await?;
        total += n;
        if n < 1000 {
            return Ok(total);
        }
    }
}
