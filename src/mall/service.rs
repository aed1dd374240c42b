//! Redeeming, fulfilling and cancelling, each in one transaction with the
//! points it moves and the messages it sends.
//!
//! A redemption takes the item's stock with a guarded decrement (the row
//! lock makes concurrent redeemers queue; none can take the last unit
//! twice), then debits the member with the points guard, then — under the
//! lock of the member's account that the debit holds — counts what the
//! member already redeemed in the limit's period. Any refusal rolls back
//! the whole transaction: nobody is debited without a redemption, and no
//! stock goes without one.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::model::{LimitPeriod, MallItem, Redeemed, Redemption, RedemptionStatus};
use super::{outbound, repo};
use crate::ids::{MemberId, WorkspaceId};
use crate::points::model::{EntryKind, Source, SourceType};
use crate::points::service::{self as points, Debit, Insufficient};

/// Why a redemption was refused.
#[derive(Debug, Clone)]
pub enum Refusal {
    NotActive,
    OutOfStock,
    NotEligible,
    LimitReached { limit: i32, redeemed: i64 },
    Insufficient(Insufficient, i64),
}

/// The instant the current limit period began (None: `ever`).
fn period_start(
    p: LimitPeriod,
    tz: chrono_tz::Tz,
    week: crate::workspaces::model::WeekStart,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    use crate::metrics::period::{self, Period};
    let today = period::local_day(tz, now);
    let first = match p {
        LimitPeriod::Ever => return None,
        LimitPeriod::Day => today,
        LimitPeriod::Week => period::period_start(today, Period::Week, week),
        LimitPeriod::Month => period::period_start(today, Period::Month, week),
    };
    Some(period::day_start(tz, first))
}

/// Redeems `quantity` of `item` for `member` at `now`; the caller commits
/// on `Ok(Ok(_))` and rolls back otherwise.
pub async fn redeem(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    item: &MallItem,
    member: MemberId,
    quantity: i32,
    now: DateTime<Utc>,
) -> Result<Result<Redeemed, Refusal>, sqlx::Error> {
    if let Some(tiers) = &item.tiers {
        let tier = crate::members::repo::tiers_of(conn, ws, &[member]).await?.into_iter().next().and_then(|t| t.1);
        if !tier.is_some_and(|t| tiers.contains(&t)) {
            return Ok(Err(Refusal::NotEligible));
        }
    }
    let Some(cost) = repo::take_stock(conn, ws, item.id, quantity, now).await? else {
        let on_sale = item.status == super::model::MallItemStatus::Active
            && item.starts_at.is_none_or(|s| s <= now)
            && item.ends_at.is_none_or(|e| now < e);
        return Ok(Err(if on_sale { Refusal::OutOfStock } else { Refusal::NotActive }));
    };
    let total = cost.saturating_mul(quantity as i64);
    let id = Uuid::now_v7();
    let note = format!("{} × {}", item.name, quantity);
    let debit = Debit {
        member,
        points: total,
        kind: EntryKind::Spend,
        source: Source::new(SourceType::Mall, id),
        note: &note,
        at: now,
    };
    let debited = match points::debit(conn, ws, debit).await? {
        Ok(d) => d,
        Err(i) => return Ok(Err(Refusal::Insufficient(i, total))),
    };
    if let Some(l) = item.per_member_limit {
        let (tz, week) = workspace_calendar(conn, ws).await?;
        let since = period_start(l.period, tz, week, now);
        let redeemed = repo::redeemed_since(conn, ws, item.id, member, since).await?;
        if redeemed + quantity as i64 > l.count as i64 {
            return Ok(Err(Refusal::LimitReached { limit: l.count, redeemed }));
        }
    }
    let fulfilled = item.auto_fulfil;
    let r = Redemption {
        id,
        item_id: item.id,
        member_id: member,
        quantity,
        points_spent: total,
        status: if fulfilled { RedemptionStatus::Fulfilled } else { RedemptionStatus::PendingFulfilment },
        entry_id: debited.entry.id,
        tracking: None,
        fulfilled_at: fulfilled.then_some(now),
        cancelled_at: None,
        created_at: now,
        updated_at: now,
    };
    repo::insert_redemption(conn, ws, &r).await?;
    crate::points::outbound::announce_expiries(conn, ws, now, &debited.expired).await?;
    crate::points::outbound::announce(conn, ws, now, &[&debited.entry]).await?;
    outbound::created(conn, ws, item, &r).await?;
    Ok(Ok(Redeemed { balance: debited.entry.balance_after, redemption: r }))
}

async fn workspace_calendar(
    conn: &mut PgConnection,
    ws: WorkspaceId,
) -> Result<(chrono_tz::Tz, crate::workspaces::model::WeekStart), sqlx::Error> {
    let w = crate::workspaces::repo::get(conn, ws).await?.ok_or(sqlx::Error::RowNotFound)?;
    Ok((crate::clock::zone(&w.timezone), w.week_start))
}

/// Cancels a pending redemption (locked by the caller): the stock and the
/// points come back (see [`points::give_back`]).
pub async fn cancel(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    r: &Redemption,
    now: DateTime<Utc>,
) -> Result<Redemption, sqlx::Error> {
    repo::restore_stock(conn, ws, r.item_id, r.quantity).await?;
    let policy = points::policy(conn, ws).await?.ok_or(sqlx::Error::RowNotFound)?;
    let source = Source::new(SourceType::Refund, r.id);
    let credit = points::Credit {
        member: r.member_id,
        points: r.points_spent,
        kind: EntryKind::Adjust,
        source,
        note: "redemption cancelled",
        at: now,
    };
    let back = points::give_back(conn, ws, &policy, r.entry_id, credit).await?;
    let cancelled = repo::set_status(conn, ws, r.id, RedemptionStatus::Cancelled, None, now).await?;
    if let Some(e) = &back {
        crate::points::outbound::announce(conn, ws, now, &[e]).await?;
    }
    outbound::cancelled(conn, ws, &cancelled, now).await?;
    Ok(cancelled)
}
