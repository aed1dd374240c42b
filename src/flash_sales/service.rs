//! Reserving, confirming, cancelling and expiring flash-sale units, each in
//! the caller's transaction with the messages it sends.
//!
//! A reservation counts toward the member's limit first (their row stays
//! locked to the commit), stores itself, and takes the units last: the
//! run's stock row is the one every buyer of the item waits on. When the
//! units are short it first expires, in the same transaction, the item's
//! reservations already due (the job may lag): `sold_out` is answered only
//! when nothing was available at that moment.

use chrono::{DateTime, Duration, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::model::{FlashSale, ItemStock, Occurrence, Reservation, ReservationStatus, SaleItem, SaleStatus, When};
use super::outbound;
use super::repo::{self, SaleRow, Taken};
use crate::ids::{MemberId, WorkspaceId};

/// Why a reservation was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    NotStarted(DateTime<Utc>),
    Ended,
    NotActive,
    NotEligible,
    LimitReached,
    SoldOut,
    /// Fewer units than asked are left (`available` of them).
    Short(i64),
}

/// A sale as the API shows it at `now`: its run on now (else the next) in
/// the workspace's timezone, each item with that run's stock.
pub async fn view(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    s: SaleRow,
    now: DateTime<Utc>,
) -> Result<FlashSale, sqlx::Error> {
    views(conn, ws, vec![s], now).await?.pop().ok_or(sqlx::Error::RowNotFound)
}

/// [`view`] of several sales in three queries whatever their number (the
/// workspace's timezone, their items, their runs' stock).
pub async fn views(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    sales: Vec<SaleRow>,
    now: DateTime<Utc>,
) -> Result<Vec<FlashSale>, sqlx::Error> {
    if sales.is_empty() {
        return Ok(vec![]);
    }
    let tz = match sales.iter().any(|s| !matches!(s.schedule.0, super::model::Schedule::Once { .. })) {
        true => {
            let w = crate::workspaces::repo::get(conn, ws).await?.ok_or(sqlx::Error::RowNotFound)?;
            crate::clock::zone(&w.timezone)
        }
        false => chrono_tz::UTC,
    };
    let runs: Vec<(Option<Occurrence>, bool)> = sales
        .iter()
        .map(|s| {
            let tz = if matches!(s.schedule.0, super::model::Schedule::Once { .. }) { chrono_tz::UTC } else { tz };
            match s.schedule.0.when(tz, now) {
                When::Now(o) => (Some(o), true),
                When::Next(o) => (Some(o), false),
                When::Over => (None, false),
            }
        })
        .collect();
    let ids: Vec<uuid::Uuid> = sales.iter().map(|s| s.id).collect();
    let items = repo::items_of(conn, ws, &ids).await?;
    let keys: Vec<(uuid::Uuid, DateTime<Utc>)> =
        sales.iter().zip(&runs).filter_map(|(s, r)| r.0.map(|o| (s.id, o.starts_at))).collect();
    let stock = repo::runs_stock(conn, ws, &keys).await?;
    Ok(sales
        .into_iter()
        .zip(runs)
        .map(|(s, (occurrence, on_now))| {
            let items = items
                .iter()
                .filter(|(sale, _)| *sale == s.id)
                .map(|(_, item)| {
                    let (st, reserved, sold) = stock
                        .iter()
                        .find(|r| {
                            r.0 == s.id && occurrence.is_some_and(|o| o.starts_at == r.1) && r.2 == item.product_id
                        })
                        .map_or((item.stock as i64, 0, 0), |r| (r.3 as i64, r.4 as i64, r.5 as i64));
                    ItemStock {
                        product_id: item.product_id.clone(),
                        name: item.name.clone(),
                        list_price: item.list_price,
                        sale_price: item.sale_price,
                        stock: st as i32,
                        per_member_limit: item.per_member_limit,
                        reserved,
                        sold,
                        available: st - reserved - sold,
                    }
                })
                .collect();
            FlashSale {
                id: s.id,
                campaign_id: crate::ids::CampaignId(s.campaign_id),
                name: s.name,
                schedule: s.schedule.0,
                eligible: s.eligible.map(|e| e.0),
                reservation_minutes: s.reservation_minutes,
                link: s.link,
                status: s.status,
                occurrence,
                on_now,
                items,
                created_at: s.created_at,
                updated_at: s.updated_at,
            }
        })
        .collect())
}

/// Where a reservation goes, decided by [`look`] before any write.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub run: Occurrence,
    /// The run's stock row is not made yet.
    pub new_run: bool,
}

/// The reads of a reservation, outside any transaction (a refusal here
/// costs the buyer no lock and no queue): the sale's status, the run on now
/// in the group's (else the workspace's) timezone, eligibility, and the
/// run's units as last committed. Too few units and none due to come back
/// is a definite answer at this moment: `sold_out` or `insufficient_stock`.
pub async fn look(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    c: &repo::Context,
    member: MemberId,
    quantity: i32,
    now: DateTime<Utc>,
) -> Result<Result<Plan, Refusal>, sqlx::Error> {
    let s = &c.sale;
    if s.status != SaleStatus::Active {
        return Ok(Err(Refusal::NotActive));
    }
    let tz = match (&s.schedule.0, &c.group_found) {
        (super::model::Schedule::Once { .. }, _) => chrono_tz::UTC,
        (_, Some(Some(Some(tz)))) => crate::clock::zone(tz),
        _ => crate::clock::zone(&c.workspace_timezone),
    };
    let run: Occurrence = match s.schedule.0.when(tz, now) {
        When::Now(o) => o,
        When::Next(o) => return Ok(Err(Refusal::NotStarted(o.starts_at))),
        When::Over => return Ok(Err(Refusal::Ended)),
    };
    if !crate::coupons::service::eligible(conn, ws, s.eligible.as_ref().map(|e| &e.0), member, now).await? {
        return Ok(Err(Refusal::NotEligible));
    }
    match c.runs.iter().find(|r| r.0 == run.starts_at) {
        None => Ok(Ok(Plan { run, new_run: true })),
        Some(&(_, 0, false)) => Ok(Err(Refusal::SoldOut)),
        Some(&(_, available, false)) if available < quantity as i64 => Ok(Err(Refusal::Short(available))),
        Some(_) => Ok(Ok(Plan { run, new_run: false })),
    }
}

/// Reserves `quantity` of `item` for `member` in the run [`look`] chose;
/// the caller commits on `Ok(Ok(_))` and rolls back otherwise.
///
/// The member's count first (their row stays locked to the commit), then
/// the reservation, and the run's stock row last: the row every buyer of
/// the item waits on is held only from its guarded update to the commit.
#[allow(clippy::too_many_arguments)]
pub async fn take(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    s: &SaleRow,
    item: &SaleItem,
    member: MemberId,
    quantity: i32,
    plan: Plan,
    now: DateTime<Utc>,
) -> Result<Result<Reservation, Refusal>, sqlx::Error> {
    let run = plan.run;
    if plan.new_run {
        repo::open_run(conn, ws, s.id, &item.product_id, run).await?;
    }
    let key = repo::Run { sale: s.id, product: &item.product_id, starts_at: run.starts_at };
    if !repo::take_limit(conn, ws, key, member, quantity, item.per_member_limit).await? {
        return Ok(Err(Refusal::LimitReached));
    }
    let r = Reservation {
        id: Uuid::now_v7(),
        sale_id: s.id,
        product_id: item.product_id.clone(),
        member_id: member,
        quantity,
        price: item.sale_price,
        status: ReservationStatus::Reserved,
        order_id: None,
        starts_at: run.starts_at,
        expires_at: now + Duration::minutes(s.reservation_minutes as i64),
        created_at: now,
    };
    repo::insert_reservation(conn, ws, &r).await?;
    let mut taken = repo::reserve(conn, ws, s.id, &item.product_id, run.starts_at, quantity, now).await?;
    if let Taken::Short { .. } = taken {
        let only = Some((ws, s.id, item.product_id.as_str(), run.starts_at));
        if expire(conn, now, only, 100).await? > 0 {
            taken = repo::reserve(conn, ws, s.id, &item.product_id, run.starts_at, quantity, now).await?;
        }
    }
    match taken {
        Taken::Reserved { left } => {
            if left == 0 {
                outbound::sold_out(conn, ws, s, item, run, now).await?;
            }
            Ok(Ok(r))
        }
        Taken::Short { available: 0 } => Ok(Err(Refusal::SoldOut)),
        Taken::Short { available } => Ok(Err(Refusal::Short(available))),
    }
}

/// Confirms a reservation (locked by the caller) on its paid order.
pub async fn confirm(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    r: &Reservation,
    order: &str,
    now: DateTime<Utc>,
) -> Result<Reservation, sqlx::Error> {
    repo::settle(conn, ws, r, true).await?;
    repo::set_status(conn, ws, r.id, ReservationStatus::Confirmed, Some(order), now).await?;
    Ok(Reservation { status: ReservationStatus::Confirmed, order_id: Some(order.to_owned()), ..r.clone() })
}

/// Gives a reservation's units back (locked by the caller): `cancelled` or `expired`.
pub async fn release(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    r: &Reservation,
    to: ReservationStatus,
    now: DateTime<Utc>,
) -> Result<Reservation, sqlx::Error> {
    repo::settle(conn, ws, r, false).await?;
    repo::set_status(conn, ws, r.id, to, None, now).await?;
    if to == ReservationStatus::Expired {
        outbound::reservation_expired(conn, ws, r, now).await?;
    }
    Ok(Reservation { status: to, ..r.clone() })
}

/// Expires up to `limit` due reservations (all, or one run's item's):
/// their units go back. How many.
pub async fn expire(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    only: Option<(WorkspaceId, Uuid, &str, DateTime<Utc>)>,
    limit: i64,
) -> Result<usize, sqlx::Error> {
    let due = repo::due(conn, now, only, limit).await?;
    for (ws, r) in &due {
        release(conn, *ws, r, ReservationStatus::Expired, now).await?;
    }
    Ok(due.len())
}

/// The expiry job: every due reservation, in batches, each batch its own
/// transaction (a crash loses no stock: the next pass finds what is due).
pub async fn expire_due(pool: &sqlx::PgPool, now: DateTime<Utc>) -> Result<usize, sqlx::Error> {
    let mut total = 0;
    loop {
        let mut tx = crate::db::begin(pool).await?;
        let n = expire(&mut tx, now, None, 500).await?;
        tx.commit().await?;
        total += n;
        if n < 500 {
            return Ok(total);
        }
    }
}
