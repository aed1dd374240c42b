//! Orders confirm and give back coupons: a newly stored `order_paid`
//! carrying `coupon_code` (a property) redeems that coupon on the order —
//! the one locked to it, or a claimed one of the paying member that the
//! shop applied without locking it; a newly stored `order_refunded` of the
//! whole order gives its coupons back where their template says so and
//! they are still valid. Reactions see only newly stored events, so a
//! redelivered payment or refund changes nothing the second time.
//!
//! It stores `coupon_redeemed` events, handed to the reactions before it
//! (`before`), so they count like any other event and nothing loops.

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use sqlx::{Acquire, PgConnection};

use super::model::{Coupon, CouponStatus};
use super::repo::{self, Key};
use super::service;
use crate::events::model::EventKind;
use crate::events::reactions::{Reaction, Reactions};
use crate::events::repo::Row;
use crate::ids::WorkspaceId;

/// The subscriber.
pub struct OrderCoupons {
    /// The reactions that run on the `coupon_redeemed` events it stores.
    pub before: Reactions,
}

impl Reaction for OrderCoupons {
    fn name(&self) -> &'static str {
        "order_coupons"
    }

    fn react<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        ws: WorkspaceId,
        events: &'a [Row],
        stored_at: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<(), sqlx::Error>> {
        Box::pin(async move {
            for r in events {
                let Some(order) = r.order_id.as_deref() else { continue };
                if r.kind == EventKind::OrderPaid.as_str() {
                    paid(conn, ws, r, order, stored_at, &self.before).await?;
                } else if r.kind == EventKind::OrderRefunded.as_str() {
                    refunded(conn, ws, r, order, stored_at).await?;
                }
            }
            Ok(())
        })
    }
}

async fn paid(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    r: &Row,
    order: &str,
    now: DateTime<Utc>,
    before: &Reactions,
) -> Result<(), sqlx::Error> {
    let Some(code) = r.properties.get("coupon_code").and_then(|c| c.as_str()).and_then(super::code::normalize) else {
        return Ok(());
    };
    let Some(c) = repo::get_coupon(conn, ws, Key::Code(&code), now, true).await? else { return Ok(()) };
    let locked = match c.status {
        CouponStatus::Locked if c.order_id.as_deref() == Some(order) => c,
        // Applied by the shop without a lock: redeemed on this order (its
        // discount unknown), unless the order already holds a coupon that
        // excludes it (the unique index decides, under a savepoint).
        CouponStatus::Claimed if r.member_id.is_none_or(|m| m == c.member_id.0) && c.valid_from <= now => {
            let mut sp = conn.begin().await?;
            if repo::lock_to_order(&mut sp, ws, c.id, order, 0, &[], now).await.is_err() {
                return Ok(()); // the savepoint rolls back on drop
            }
            sp.commit().await?;
            Coupon { order_id: Some(order.to_owned()), status: CouponStatus::Locked, ..c }
        }
        _ => return Ok(()),
    };
    repo::set_order_amount(conn, ws, locked.id, r.amount).await?;
    service::confirm(conn, ws, &locked, now, before).await
}

async fn refunded(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    r: &Row,
    order: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    for c in repo::of_order(conn, ws, order, now).await? {
        if c.status != CouponStatus::Redeemed {
            continue;
        }
        // A refund of less than the paid amount is partial: the coupon stays used.
        let paid = repo::order_amount(conn, ws, c.id).await?;
        let whole = match (r.amount, paid) {
            (Some(refund), Some(paid)) => refund >= paid,
            _ => true,
        };
        let restore = repo::get_template(conn, ws, c.template_id, false).await?.is_some_and(|t| t.restore_on_refund);
        if whole && restore && c.valid_until > now {
            repo::set_status(conn, ws, c.id, CouponStatus::Claimed, now).await?;
        }
    }
    Ok(())
}
